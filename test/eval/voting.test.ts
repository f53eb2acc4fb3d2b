import { test } from 'node:test';
import assert from 'node:assert/strict';
import { majorityVote, passAtK, resultSetKey } from '../../src/eval/voting.js';
import { classifyError } from '../../src/eval/taxonomy.js';
import { bootstrapInterval, compareRuns } from '../../src/eval/run-compare.js';
import type { ExecResult } from '../../src/sql/types.js';

const rows = (r: (number | string | null)[][]): ExecResult => ({ kind: 'rows', columns: r[0]?.map((_, i) => `c${i}`) ?? [], rows: r, ms: 0 });
const err: ExecResult = { kind: 'error', message: 'no such column: x', ms: 0 };

test('pass@k is the unbiased estimator 1 - C(n-c,k)/C(n,k)', () => {
  assert.equal(passAtK(10, 3, 1), 0.30000000000000004);
  assert.ok(Math.abs(passAtK(10, 3, 2) - (1 - 21 / 45)) < 1e-15);
  assert.equal(passAtK(5, 0, 3), 0);
  assert.equal(passAtK(4, 2, 3), 1);
  assert.throws(() => passAtK(2, 1, 3), /at least 3 samples/);
});

test('majority vote: the largest result cluster wins, ties go to the first cluster', () => {
  assert.deepEqual(majorityVote([
    { sql: 'a', result: rows([[1]]) }, { sql: 'b', result: rows([[2]]) }, { sql: 'c', result: rows([[2]]) }, { sql: 'd', result: err },
  ]), { index: 1, votes: 2, clusters: 2 });
  assert.deepEqual(majorityVote([{ sql: 'a', result: rows([[1]]) }, { sql: 'b', result: rows([[2]]) }]), { index: 0, votes: 1, clusters: 2 });
});

test('votes group results as sets of rows: duplicates and row order ignored, 1 equals 1.0', () => {
  assert.equal(resultSetKey([[1], [1], [2]]), resultSetKey([[2], [1.0]]));
  assert.notEqual(resultSetKey([[1, 2]]), resultSetKey([[2, 1]]));
  assert.notEqual(resultSetKey([['1']]), resultSetKey([[1]]));
  assert.deepEqual(majorityVote([
    { sql: 'a', result: rows([[3]]) }, { sql: 'b', result: rows([[1], [2]]) }, { sql: 'c', result: rows([[2], [1], [1]]) },
  ]), { index: 1, votes: 2, clusters: 2 });
});

test('when nothing executes, the first candidate with SQL is chosen with 0 votes', () => {
  assert.deepEqual(majorityVote([{ sql: null, result: null }, { sql: 'x', result: err }, { sql: 'y', result: { kind: 'timeout', ms: 1 } }]), { index: 1, votes: 0, clusters: 0 });
});

test('error taxonomy from verdicts and SQLite messages', () => {
  assert.equal(classifyError('match'), 'correct');
  assert.equal(classifyError('mismatch'), 'wrong_result');
  assert.equal(classifyError('no_sql'), 'empty_output');
  assert.equal(classifyError('timeout'), 'timeout');
  assert.equal(classifyError('error', 'no such table: singers'), 'unknown_table');
  assert.equal(classifyError('error', 'no such column: T1.nme'), 'unknown_column');
  assert.equal(classifyError('error', 'ambiguous column name: id'), 'unknown_column');
  assert.equal(classifyError('error', 'near "FROM": syntax error'), 'syntax_error');
  assert.equal(classifyError('error', 'incomplete input'), 'syntax_error');
  assert.equal(classifyError('error', 'misuse of aggregate: count()'), 'other_sql_error');
});

test('run comparison counts fixed/broken and gives a reproducible paired bootstrap interval', () => {
  const items = [
    { index: 0, bucket: 'easy', a: false, b: true },
    { index: 1, bucket: 'easy', a: true, b: true },
    { index: 2, bucket: 'hard', a: true, b: false },
    { index: 3, bucket: 'hard', a: false, b: false },
    { index: 4, bucket: 'hard', a: false, b: true },
  ];
  const r = compareRuns(items, 7);
  assert.equal(r.overall.n, 5);
  assert.equal(r.overall.accA, 0.4);
  assert.equal(r.overall.accB, 0.6);
  assert.ok(Math.abs(r.overall.delta - 0.2) < 1e-12);
  assert.deepEqual([r.overall.fixed, r.overall.broken, r.overall.bothRight, r.overall.bothWrong], [2, 1, 1, 1]);
  assert.deepEqual(r.overall.ci95, compareRuns(items, 7).overall.ci95);
  assert.ok(r.overall.ci95[0] <= 0.2 && r.overall.ci95[1] >= 0.2);
  assert.deepEqual(Object.keys(r.byBucket), ['easy', 'hard']);
  assert.equal(r.byBucket.easy.fixed, 1);
  assert.deepEqual(bootstrapInterval([1, 1, 1], 100, 1), [1, 1]);
});
