// fitPrompts: long prompts are never cut; they stop the run with a message that names the fix, or are
// dropped and returned, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPrompts } from '../../src/data/prompt-fit.js';
import { UsageError } from '../../src/errors.js';

const items = [
  { id: 'a', n: 10 },
  { id: 'b', n: 12 },
  { id: 'c', n: 11 },
  { id: 'd', n: 30 },
  { id: 'e', n: 9 },
];
const len = (t: { n: number }) => t.n;

test('drop: prompts over the limit are returned in dropped, the rest in kept, both in input order', () => {
  const r = fitPrompts(items, len, 11, 'drop');
  assert.deepEqual(r.kept.map((t) => t.id), ['a', 'c', 'e']);
  assert.deepEqual(r.dropped.map((t) => t.id), ['b', 'd']);
  assert.equal(r.longest, 30);
});

test('a prompt of exactly maxLength fits', () => {
  const r = fitPrompts([{ id: 'x', n: 11 }], len, 11, 'error');
  assert.deepEqual(r, { kept: [{ id: 'x', n: 11 }], dropped: [], longest: 11 });
});

test('error: one UsageError naming the count, the total, the longest and the three fixes', () => {
  assert.throws(
    () => fitPrompts(items, len, 11, 'error'),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      const msg = (err as Error).message;
      assert.match(msg, /^2 of 5 prompts exceed --max-prompt-length 11 \(longest 30 tokens\)/);
      assert.match(msg, /--max-prompt-length/);
      assert.match(msg, /--template compact/);
      assert.match(msg, /--long-prompts drop/);
      assert.ok(!msg.includes('\n'));
      return true;
    },
  );
});

test('error with everything fitting returns all items; empty input gives longest 0', () => {
  assert.deepEqual(fitPrompts(items, len, 30, 'error').kept.map((t) => t.id), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(fitPrompts([], len, 5, 'error'), { kept: [], dropped: [], longest: 0 });
});

test('the length function is called once per item', () => {
  let calls = 0;
  fitPrompts(items, (t) => (calls++, t.n), 100, 'drop');
  assert.equal(calls, 5);
});

test('a limit that is not a positive integer is a UsageError', () => {
  assert.throws(() => fitPrompts(items, len, 0, 'drop'), UsageError);
  assert.throws(() => fitPrompts(items, len, 2.5, 'drop'), UsageError);
});
