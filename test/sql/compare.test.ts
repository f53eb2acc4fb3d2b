// Result comparison, one named case per rule of the official evaluators (docs/compare-modes.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  hasNoStatement,
  hasSecondStatement,
  hasTopLevelOrderBy,
  multisetEq,
  orderMatters,
  pyFloatRepr,
  pySortKey,
  quickRej,
  removeDistinct,
  resultEq,
  resultsEqual,
  severalStatementsError,
  sqlForMode,
  unorderRow,
} from '../../src/sql/compare.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { executionMatch } from '../../src/sql/match.js';
import type { SqlValue } from '../../src/sql/types.js';
import { SPIDER_DIR, NO_SPIDER } from '../helpers/paths.js';

const spider = (g: SqlValue[][], p: SqlValue[][], order = false) => resultsEqual(g, p, { mode: 'spider', orderMatters: order });
const bird = (g: SqlValue[][], p: SqlValue[][]) => resultsEqual(g, p, { mode: 'bird', orderMatters: false });
const strict = (g: SqlValue[][], p: SqlValue[][], order = false) => resultsEqual(g, p, { mode: 'strict', orderMatters: order });

test('pyFloatRepr matches Python repr()', () => {
  const cases: [number, string][] = [
    [1, '1.0'], [0.1, '0.1'], [-2.5, '-2.5'], [1e-5, '1e-05'], [0.0001, '0.0001'], [1e16, '1e+16'], [123456789012345.6, '123456789012345.6'],
    [1.5e16, '1.5e+16'], [1e22, '1e+22'], [Infinity, 'inf'], [-Infinity, '-inf'], [0, '0.0'], [2 / 3, '0.6666666666666666'], [100, '100.0'],
  ];
  for (const [x, r] of cases) assert.equal(pyFloatRepr(x), r, String(x));
});

test('unorder_row sorts a row by str(x) + str(type(x)), so an int and an equal float can land in different places', () => {
  assert.deepEqual(unorderRow(['b', 1, null, 'a']), [1, null, 'a', 'b']);
  assert.equal(pySortKey(2n), "2<class 'int'>");
  assert.equal(pySortKey(2, true), "2.0<class 'float'>");
  // ('2.0<float', '25<int'): '.' < '5' ; ('2<int', '25<int'): '<' > '5'
  assert.deepEqual(unorderRow([2, 25n], true), [2, 25n]);
  assert.deepEqual(unorderRow([2n, 25n]), [25n, 2n]);
  assert.equal(quickRej([[2, 25n]], [[2n, 25n]], false, undefined, true), false, 'official quick_rej rejects a real 2.0 vs an integer 2 next to 25');
  assert.equal(resultsEqual([[2, 25n]], [[2n, 25n]], { mode: 'spider', orderMatters: false, exactIntegers: true }), false);
  assert.equal(resultsEqual([[2]], [[2n]], { mode: 'spider', orderMatters: false, exactIntegers: true }), true, 'alone, 2.0 == 2');
});

test('empty vs empty is a match; empty vs non-empty is not', () => {
  assert.equal(spider([], []), true);
  assert.equal(spider([], [[1]]), false);
  assert.equal(spider([[1]], []), false);
  assert.equal(bird([], []), true);
});

test('different row counts or column counts never match', () => {
  assert.equal(spider([[1], [2]], [[1]]), false);
  assert.equal(spider([[1, 2]], [[1]]), false);
});

test('columns may be permuted (<= 3 columns: every permutation is tried)', () => {
  assert.equal(spider([['a', 1, 2.5]], [[2.5, 'a', 1]]), true);
  assert.equal(spider([['a', 1], ['b', 2]], [[2, 'b'], [1, 'a']]), true);
  assert.equal(bird([['a', 1]], [[1, 'a']]), false, 'BIRD does not permute columns');
  assert.equal(strict([['a', 1]], [[1, 'a']]), true);
});

test('columns may be permuted with > 3 columns (constraint-pruned search)', () => {
  const g = [[1, 'x', 2, 'y', 3], [4, 'z', 5, 'w', 6]];
  const p = [[3, 'y', 2, 'x', 1], [6, 'w', 5, 'z', 4]];
  assert.equal(spider(g, p), true);
  assert.equal(spider(g, [[3, 'y', 2, 'x', 1], [6, 'w', 5, 'z', 7]]), false);
  // a permutation must be one for all rows at once
  assert.equal(spider([[1, 2, 3, 4], [5, 6, 7, 8]], [[2, 1, 3, 4], [5, 6, 7, 8]]), false);
});

test('rows are a multiset: duplicates count, order does not (no ORDER BY in gold)', () => {
  assert.equal(spider([[1], [2], [2]], [[2], [1], [2]]), true);
  assert.equal(spider([[1], [2], [2]], [[1], [1], [2]]), false, 'same set, different multiplicities');
  assert.equal(multisetEq(['a', 'b', 'b'], ['b', 'a', 'b']), true);
  assert.equal(multisetEq(['a', 'b', 'b'], ['a', 'a', 'b']), false);
});

test('missing DISTINCT: the prediction has duplicates the gold does not, so row counts differ', () => {
  assert.equal(spider([['Lyon'], ['Porto']], [['Lyon'], ['Porto'], ['Lyon']]), false);
  assert.equal(bird([['Lyon'], ['Porto']], [['Lyon'], ['Porto'], ['Lyon']]), true, 'BIRD compares sets');
});

test('ORDER BY in the gold makes order matter; otherwise it does not', () => {
  assert.equal(spider([[1], [2]], [[2], [1]], true), false);
  assert.equal(spider([[1], [2]], [[2], [1]], false), true);
  assert.equal(spider([['a', 1], ['b', 2]], [[1, 'a'], [2, 'b']], true), true, 'columns still permute when order matters');
});

test('order_matters: spider reads the gold text ("order by" substring, after DISTINCT removal); strict parses the top level', () => {
  assert.equal(orderMatters('SELECT a FROM t ORDER BY a', 'spider'), true);
  assert.equal(orderMatters('SELECT a FROM t order  by a', 'spider'), false, 'two spaces: the substring test fails, as in the official code');
  assert.equal(orderMatters("SELECT a FROM t WHERE b = 'order by'", 'spider'), true, 'inside a string literal it still counts');
  assert.equal(orderMatters('SELECT a FROM t WHERE b IN (SELECT c FROM u ORDER BY c LIMIT 3)', 'spider'), true);
  assert.equal(orderMatters('SELECT a FROM t WHERE b IN (SELECT c FROM u ORDER BY c LIMIT 3)', 'strict'), false);
  assert.equal(orderMatters("SELECT a FROM t WHERE b = 'order by'", 'strict'), false);
  assert.equal(orderMatters('SELECT a FROM t ORDER\n BY a', 'strict'), true);
  assert.equal(orderMatters('SELECT a FROM t ORDER BY a', 'bird'), false);
  assert.equal(hasTopLevelOrderBy('SELECT a FROM t /* order by */'), false);
});

test('float vs int: equal values match (Python 1 == 1.0); strings never equal numbers', () => {
  assert.equal(spider([[1]], [[1.0]]), true);
  assert.equal(spider([[3]], [[3n]]), true);
  assert.equal(spider([['1']], [[1]]), false);
  assert.equal(spider([[0.1 + 0.2]], [[0.3]]), false, 'spider compares floats exactly');
  assert.equal(strict([[0.1 + 0.2]], [[0.3]]), true, 'strict tolerates float noise (12 significant digits)');
  assert.equal(strict([[0.31]], [[0.3]]), false);
});

test('NULLs: equal to NULL only', () => {
  assert.equal(spider([[null], [1]], [[1], [null]]), true);
  assert.equal(spider([[null]], [[0]]), false);
  assert.equal(spider([[null]], [['None']]), false);
  assert.equal(bird([[null, 'a']], [[null, 'a']]), true);
});

test('LIMIT ties: a different tied row is a different result', () => {
  // gold: ORDER BY age DESC LIMIT 1 picked 'Ann'; the prediction picked the tied 'Bob'
  assert.equal(spider([['Ann', 40]], [['Bob', 40]], true), false);
});

test('blobs compare by bytes and never equal strings', () => {
  assert.equal(spider([[new Uint8Array([1, 2])]], [[Buffer.from([1, 2])]]), true);
  assert.equal(spider([[new Uint8Array([97])]], [['a']]), false);
});

test('resultEq with the official key on a quick_rej-passing but permutation-failing pair', () => {
  // unordered rows agree as sets but no single column permutation maps one table onto the other
  assert.equal(resultEq([[1, 2], [2, 1]], [[1, 2], [1, 2]], false), false);
});

test('remove_distinct: the first statement, every DISTINCT keyword token gone, literals and identifiers kept', () => {
  assert.equal(removeDistinct('SELECT DISTINCT name FROM t'), 'SELECT  name FROM t');
  assert.equal(removeDistinct('SELECT count(DISTINCT name) FROM t'), 'SELECT count( name) FROM t');
  assert.equal(removeDistinct("SELECT a FROM t WHERE b = 'distinct'"), "SELECT a FROM t WHERE b = 'distinct'");
  assert.equal(removeDistinct('SELECT distinct_count FROM t'), 'SELECT distinct_count FROM t');
  assert.equal(removeDistinct('SELECT 1; DROP TABLE t'), 'SELECT 1;', 'only the first statement survives');
});

test('sqlForMode: spider postprocesses (> =), strips DISTINCT and replaces YEAR(CURDATE()); bird/strict run the text', () => {
  assert.equal(sqlForMode('SELECT a FROM t WHERE b > = 3', 'spider'), 'SELECT a FROM t WHERE b >= 3');
  assert.equal(sqlForMode('SELECT YEAR(CURDATE()) - age FROM t', 'spider'), 'SELECT 2020- age FROM t');
  assert.equal(sqlForMode('SELECT DISTINCT a FROM t;', 'strict'), 'SELECT DISTINCT a FROM t');
  assert.equal(sqlForMode('SELECT 1; SELECT 2', 'strict'), 'SELECT 1; SELECT 2');
  assert.equal(sqlForMode('SELECT 1;\n', 'bird'), 'SELECT 1;\n', 'bird runs the text as written');
});

test("several statements: Python sqlite3's rule (only whitespace and comments after the first ';'); spider takes the first, bird and strict refuse", () => {
  // checked against Python 3.11 sqlite3.execute: these raise 'You can only execute one statement at a time.'
  for (const sql of ['SELECT 1; SELECT 2', 'SELECT 1;\n\nSELECT 2', 'SELECT 1;;', "SELECT 1; 'x'", '-- lead\nSELECT 1; SELECT 2']) {
    assert.equal(hasSecondStatement(sql), true, sql);
  }
  // ... and these run
  for (const sql of ['SELECT 1', 'SELECT 1;', 'SELECT 1; -- c', 'SELECT 1 -- c\n; /* x */', 'SELECT 1;\n-- trailing', "SELECT ';' FROM t", '  ; SELECT 1']) {
    assert.equal(hasSecondStatement(sql), false, sql);
  }
  assert.equal(hasNoStatement('-- only a comment'), true);
  assert.equal(hasNoStatement(' ; /* c */ ;'), true);
  assert.equal(hasNoStatement("SELECT '--'"), false);
  assert.equal(severalStatementsError('SELECT 1; SELECT 2', 'spider'), null);
  assert.match(severalStatementsError('SELECT 1; SELECT 2', 'bird')!, /more than one statement/);
  assert.match(severalStatementsError('SELECT 1; SELECT 2', 'strict')!, /more than one statement/);
});

test('on the real database: reordered columns and the gold with trailing junk match in spider mode; count(DISTINCT) vs count differs only in strict', { skip: NO_SPIDER && 'Spider data missing' }, async () => {
  const exec = new SqlExecutor({ workers: 2 });
  const db = join(SPIDER_DIR, 'database', 'concert_singer', 'concert_singer.sqlite');
  try {
    const verdict = async (goldSql: string, predSql: string, mode: 'spider' | 'bird' | 'strict') =>
      (await executionMatch(exec, { dbPath: db, goldSql, predSql, mode })).verdict;
    assert.equal(await verdict('SELECT name, country, age FROM singer ORDER BY age DESC', 'SELECT age, name, country FROM singer ORDER BY age DESC', 'spider'), 'match');
    assert.equal(await verdict('SELECT name, country, age FROM singer ORDER BY age DESC', 'SELECT name, country, age FROM singer ORDER BY age ASC', 'spider'), 'mismatch');
    assert.equal(await verdict('SELECT name FROM singer', 'SELECT name FROM singer ORDER BY age', 'spider'), 'match', 'the prediction\'s ORDER BY never matters');
    assert.equal(await verdict('SELECT count(*) FROM singer', 'SELECT count(*) FROM singer; DROP TABLE singer', 'spider'), 'match', 'official: first statement only');
    assert.equal(await verdict('SELECT count(*) FROM singer', 'SELECT count(*) FROM singer; DROP TABLE singer', 'strict'), 'error');
    assert.equal(await verdict('SELECT count(*) FROM singer', 'SELECT count(*) FROM singer; DROP TABLE singer', 'bird'), 'error', 'BIRD runs the text with sqlite3, which refuses two statements');
    assert.equal(await verdict('SELECT count(*) FROM singer', 'SELECT count(*) FROM singer;;', 'bird'), 'error');
    assert.equal(await verdict('SELECT count(*) FROM singer', 'SELECT count(*) FROM singer; -- all of them', 'bird'), 'match');
    assert.equal(await verdict('SELECT count(*) FROM singer', 'SELECT count(*) FROM singer; SELECT 1', 'strict'), 'error');
    for (const mode of ['spider', 'bird', 'strict'] as const) {
      assert.equal(await verdict('SELECT count(*) FROM singer', 'DELETE FROM singer', mode), 'refused', `${mode}: a write is refused by the sandbox, not invalid SQL`);
      assert.equal(await verdict('SELECT count(*) FROM singer', "ATTACH 'x.db' AS x", mode), 'refused');
      assert.equal(await verdict('SELECT count(*) FROM singer', "SELECT load_extension('x')", mode), 'refused');
      assert.equal(await verdict('SELECT count(*) FROM singer', 'SELEC 1', mode), 'error');
    }
    // Python's sqlite3 runs a comment-only text to no rows, so the official evaluators match it with an empty gold
    assert.equal(await verdict('SELECT name FROM singer WHERE age > 100', '-- no idea', 'spider'), 'match');
    assert.equal(await verdict('SELECT name FROM singer WHERE age > 100', '-- no idea', 'bird'), 'match');
    assert.equal(await verdict('SELECT name FROM singer', '-- no idea', 'spider'), 'mismatch');
    assert.equal(await verdict('SELECT name FROM singer WHERE age > 100', '-- no idea', 'strict'), 'error');
    assert.equal(await verdict('SELECT count(DISTINCT country) FROM singer', 'SELECT count(country) FROM singer', 'spider'), 'match', 'official: DISTINCT stripped from both');
    assert.equal(await verdict('SELECT count(DISTINCT country) FROM singer', 'SELECT count(country) FROM singer', 'strict'), 'mismatch');
    assert.equal(await verdict('SELECT avg(age) FROM singer', 'SELECT sum(age) * 1.0 / count(*) FROM singer', 'spider'), 'match');
    assert.equal(await verdict('SELECT name FROM singer WHERE age > 100', 'SELECT name FROM stadium WHERE capacity < 0', 'spider'), 'match', 'empty vs empty');
    assert.equal(await verdict('SELECT name FROM singer', 'SELECT nme FROM singer', 'spider'), 'error');
    assert.equal(await verdict('SELECT nme FROM singer', 'SELECT name FROM singer', 'spider'), 'gold_error');
  } finally {
    await exec.close();
  }
});
