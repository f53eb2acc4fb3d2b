// Which prompts are computed from a shared beginning: rules worked out by hand on small token lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commonPrefixLength, planSharedPrefixes } from '../../src/engine/shared-prefix.js';

test('common prefix length: tokens equal from the start', () => {
  assert.equal(commonPrefixLength([1, 2, 3, 4], [1, 2, 9]), 2);
  assert.equal(commonPrefixLength([1, 2], [1, 2, 3]), 2);
  assert.equal(commonPrefixLength([5], [6]), 0);
  assert.equal(commonPrefixLength([], [1]), 0);
});

test('prompts sharing at least minShared leading tokens form clusters; the rest stay alone', () => {
  const schemaA = [1, 1, 1, 1];
  const schemaB = [2, 2, 2, 2];
  const prompts = [
    [...schemaA, 7, 8], // 0
    [...schemaB, 5], // 1
    [...schemaA, 7, 9], // 2: shares 5 tokens with 0
    [3, 3, 3, 3, 3], // 3: alone
    [...schemaB, 6, 6], // 4
    [...schemaA, 4], // 5: shares 4 with 0 and 2
  ];
  // sorted: 5 [1,1,1,1,4], 0 [..,7,8], 2 [..,7,9] → neighbours share 4 and 5 → the cluster shares 4
  assert.deepEqual(planSharedPrefixes(prompts, 3), [
    { shared: 4, members: [0, 2, 5] },
    { shared: 4, members: [1, 4] },
  ]);
  // nothing shares 5 tokens except 0 and 2
  assert.deepEqual(planSharedPrefixes(prompts, 5), [{ shared: 5, members: [0, 2] }]);
});

test('each member keeps at least one token of its own; a prompt that is another\'s beginning caps the cluster', () => {
  // [1,1,1] is a beginning of [1,1,1,2]: the shared part is 2 tokens, so both have a row of their own
  assert.deepEqual(planSharedPrefixes([[1, 1, 1, 2], [1, 1, 1]], 2), [{ shared: 2, members: [0, 1] }]);
  // capped below minShared: no cluster
  assert.deepEqual(planSharedPrefixes([[1, 1, 1, 2], [1, 1, 1]], 3), []);
  assert.deepEqual(planSharedPrefixes([[1, 2, 3]], 1), []);
  assert.deepEqual(planSharedPrefixes([], 1), []);
});
