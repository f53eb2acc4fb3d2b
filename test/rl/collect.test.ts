import { test } from 'node:test';
import assert from 'node:assert/strict';
import { informative, pickGroups } from '../../src/rl/collect.js';
import { lrAt } from '../../src/rl/schedule.js';

const score = (reward: number, excluded = false) => ({ reward, components: {}, status: 'match', sql: null, excluded });
const g = (name: string, ...rewards: number[]) => ({ name, scores: rewards.map((r) => score(r)) });

test('dynamic sampling keeps the first n groups whose rewards differ, topped up in draw order', () => {
  const groups = [g('a', 1, 1), g('b', 0, 1), g('c', 0, 0), g('d', 0.1, 1), g('e', 1, 0)];
  assert.deepEqual(pickGroups(groups, 2).map((x) => x.name), ['b', 'd']);
  assert.deepEqual(pickGroups(groups, 3).map((x) => x.name), ['b', 'd', 'e']);
  assert.deepEqual(pickGroups(groups, 4).map((x) => x.name), ['b', 'd', 'e', 'a']);
  assert.deepEqual(pickGroups(groups, 9).map((x) => x.name), ['b', 'd', 'e', 'a', 'c']);
  assert.deepEqual(pickGroups([g('z', 0.1, 0.1)], 1).map((x) => x.name), ['z']);
});

test('a group is informative when the rewards of its counted completions differ (infrastructure failures do not count)', () => {
  assert.equal(informative({ scores: [score(1), score(0)] }), true);
  assert.equal(informative({ scores: [score(1), score(1), score(0, true)] }), false);
  assert.equal(informative({ scores: [score(0, true), score(1), score(0)] }), true);
});

test('learning-rate schedules: linear warmup from 0 (as transformers), then cosine / linear / constant', () => {
  assert.equal(lrAt(1, 'constant', 0, 10, 2), 0);
  assert.equal(lrAt(1, 'constant', 1, 10, 2), 0.5);
  assert.equal(lrAt(1, 'constant', 2, 10, 2), 1);
  assert.equal(lrAt(1, 'linear', 6, 10, 2), 0.5);
  assert.equal(lrAt(1, 'constant', 9, 10, 0), 1);
  assert.ok(Math.abs(lrAt(1, 'cosine', 6, 10, 2) - 0.5) < 1e-12);
});
