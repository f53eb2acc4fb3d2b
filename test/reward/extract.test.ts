// SQL extraction: each shape a model emits, pinned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractSql } from '../../src/reward/extract.js';

const pick = (c: string) => {
  const e = extractSql(c);
  return { sql: e.sql, source: e.source, formatOk: e.formatOk, multi: e.multipleStatements, unclosed: e.unclosed };
};

test('<think> + <answer> with a ```sql block: SQL-R1 format ok', () => {
  assert.deepEqual(pick('<think>count them</think>\n<answer>\n```sql\nSELECT count(*) FROM singer;\n```\n</answer>'), { sql: 'SELECT count(*) FROM singer', source: 'answer', formatOk: true, multi: false, unclosed: false });
});

test('<answer> without a fence: the answer text is the SQL, format not ok', () => {
  assert.deepEqual(pick('<think>x</think><answer>SELECT 1</answer>'), { sql: 'SELECT 1', source: 'answer', formatOk: false, multi: false, unclosed: false });
});

test('<answer> without <think>: SQL taken, format not ok', () => {
  assert.deepEqual(pick('<answer>```sql\nSELECT 2\n```</answer>'), { sql: 'SELECT 2', source: 'answer', formatOk: false, multi: false, unclosed: false });
});

test('missing </answer>: text to the end, unclosed', () => {
  assert.deepEqual(pick('<think>t</think><answer>```sql\nSELECT 3\n```'), { sql: 'SELECT 3', source: 'answer', formatOk: false, multi: false, unclosed: true });
  assert.deepEqual(pick('<think>t</think><answer>SELECT 4 FROM t'), { sql: 'SELECT 4 FROM t', source: 'answer', formatOk: false, multi: false, unclosed: true });
});

test('two <think> blocks break the format', () => {
  assert.equal(pick('<think>a</think><think>b</think><answer>```sql\nSELECT 1\n```</answer>').formatOk, false);
});

test('last ```sql fence wins over earlier ones and over other languages', () => {
  assert.deepEqual(pick('Try:\n```sql\nSELECT 1\n```\nBetter:\n```sql\nSELECT 2\n```\nDone.'), { sql: 'SELECT 2', source: 'fence', formatOk: false, multi: false, unclosed: false });
  assert.equal(pick('```python\nprint(1)\n```\n```sql\nSELECT 5\n```\n```text\nbye\n```').sql, 'SELECT 5');
});

test('unclosed fence: to the end', () => {
  assert.deepEqual(pick('```sql\nSELECT a FROM t'), { sql: 'SELECT a FROM t', source: 'fence', formatOk: false, multi: false, unclosed: true });
});

test('bare SQL with prose before and a paragraph after', () => {
  assert.deepEqual(pick('The query is SELECT name FROM singer WHERE age > 30\n\nThis returns names.'), { sql: 'SELECT name FROM singer WHERE age > 30', source: 'bare', formatOk: false, multi: false, unclosed: false });
});

test('multiple statements: the first is kept and flagged; a ; inside a string is not a separator', () => {
  assert.deepEqual(pick('```sql\nSELECT 1; DROP TABLE t;\n```'), { sql: 'SELECT 1', source: 'fence', formatOk: false, multi: true, unclosed: false });
  assert.deepEqual(pick("```sql\nSELECT ';' FROM t;\n```"), { sql: "SELECT ';' FROM t", source: 'fence', formatOk: false, multi: false, unclosed: false });
});

test('no SQL at all, and the empty completion', () => {
  assert.deepEqual(pick('I do not know.'), { sql: null, source: 'none', formatOk: false, multi: false, unclosed: false });
  assert.deepEqual(pick(''), { sql: null, source: 'none', formatOk: false, multi: false, unclosed: false });
  assert.equal(pick('<think>hmm</think><answer>```sql\n```</answer>').sql, null);
});
