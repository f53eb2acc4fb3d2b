// SQL extraction under each rule, pinned on hand-made responses. Expected values are read off the published
// code's regexes by hand (SQL-R1 synsql.py, Arctic/OmniSQL parse_response), not computed by the code under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collapseWhitespace, extractionMismatch, extractSql, extractWith, goldForRule, pyStrip } from '../../src/reward/extract.js';

const pick = (c: string) => {
  const e = extractSql(c);
  return { sql: e.sql, source: e.source, formatOk: e.formatOk, multi: e.multipleStatements, unclosed: e.unclosed };
};
const r1 = (c: string) => {
  const e = extractWith('sql-r1', c);
  return { sql: e.sql, formatOk: e.formatOk, think: e.think, answer: e.answer };
};
const arctic = (c: string) => extractWith('arctic', c).sql;

// ---------------------------------------------------------------- lenient (evaluation's default)

test('lenient: <think> + <answer> with a ```sql block; SQL-R1 format ok', () => {
  assert.deepEqual(pick('<think>count them</think>\n<answer>\n```sql\nSELECT count(*) FROM singer;\n```\n</answer>'), { sql: 'SELECT count(*) FROM singer', source: 'answer', formatOk: true, multi: false, unclosed: false });
});

test('lenient: <answer> without a fence: the answer text is the SQL, format not ok', () => {
  assert.deepEqual(pick('<think>x</think><answer>SELECT 1</answer>'), { sql: 'SELECT 1', source: 'answer', formatOk: false, multi: false, unclosed: false });
});

test('lenient: <answer> without <think>: SQL taken, format not ok', () => {
  assert.deepEqual(pick('<answer>```sql\nSELECT 2\n```</answer>'), { sql: 'SELECT 2', source: 'answer', formatOk: false, multi: false, unclosed: false });
});

test('lenient: missing </answer>: text to the end, unclosed', () => {
  assert.deepEqual(pick('<think>t</think><answer>```sql\nSELECT 3\n```'), { sql: 'SELECT 3', source: 'answer', formatOk: false, multi: false, unclosed: true });
  assert.deepEqual(pick('<think>t</think><answer>SELECT 4 FROM t'), { sql: 'SELECT 4 FROM t', source: 'answer', formatOk: false, multi: false, unclosed: true });
});

test('lenient: two <think> blocks break the format', () => {
  assert.equal(pick('<think>a</think><think>b</think><answer>```sql\nSELECT 1\n```</answer>').formatOk, false);
});

test('lenient: last ```sql fence wins over earlier ones and over other languages', () => {
  assert.deepEqual(pick('Try:\n```sql\nSELECT 1\n```\nBetter:\n```sql\nSELECT 2\n```\nDone.'), { sql: 'SELECT 2', source: 'fence', formatOk: false, multi: false, unclosed: false });
  assert.equal(pick('```python\nprint(1)\n```\n```sql\nSELECT 5\n```\n```text\nbye\n```').sql, 'SELECT 5');
  assert.equal(pick('```SQL\nSELECT 6\n```').sql, 'SELECT 6', 'upper-case fence accepted');
});

test('lenient: unclosed fence: to the end', () => {
  assert.deepEqual(pick('```sql\nSELECT a FROM t'), { sql: 'SELECT a FROM t', source: 'fence', formatOk: false, multi: false, unclosed: true });
});

test('lenient: bare SQL with prose before and a paragraph after', () => {
  assert.deepEqual(pick('The query is SELECT name FROM singer WHERE age > 30\n\nThis returns names.'), { sql: 'SELECT name FROM singer WHERE age > 30', source: 'bare', formatOk: false, multi: false, unclosed: false });
});

test('several statements are kept whole and flagged (the compare mode decides); a ; inside a string is not a separator', () => {
  assert.deepEqual(pick('```sql\nSELECT 1; DROP TABLE t;\n```'), { sql: 'SELECT 1; DROP TABLE t', source: 'fence', formatOk: false, multi: true, unclosed: false });
  assert.deepEqual(pick("```sql\nSELECT ';' FROM t;\n```"), { sql: "SELECT ';' FROM t", source: 'fence', formatOk: false, multi: false, unclosed: false });
  assert.equal(pick('```sql\nSELECT 1; -- done\n```').multi, false, 'a comment after the ; is not a statement');
});

test('lenient: no SQL at all, and the empty completion', () => {
  assert.deepEqual(pick('I do not know.'), { sql: null, source: 'none', formatOk: false, multi: false, unclosed: false });
  assert.deepEqual(pick(''), { sql: null, source: 'none', formatOk: false, multi: false, unclosed: false });
  assert.equal(pick('<think>hmm</think><answer>```sql\n```</answer>').sql, null);
});

// ---------------------------------------------------------------- sql-r1 (synsql.py)

test('sql-r1: think and answer stripped, SQL stripped then every whitespace run collapsed to one space, trailing ; kept', () => {
  const response = '<think>\n  plan it  \n</think>\n<answer>\nHere:\n```sql\nSELECT  name,\n\tage\n  FROM singer ;\n```\n</answer>';
  assert.deepEqual(r1(response), {
    sql: 'SELECT name, age FROM singer ;',
    formatOk: true,
    think: 'plan it',
    answer: 'Here:\n```sql\nSELECT  name,\n\tage\n  FROM singer ;\n```',
  });
});

test('sql-r1: the fence is case-sensitive and must be closed; an empty block fails the format; no SQL when the format fails', () => {
  assert.deepEqual(r1('<think>t</think><answer>```SQL\nSELECT 1\n```</answer>'), { sql: null, formatOk: false, think: 't', answer: '```SQL\nSELECT 1\n```' });
  assert.deepEqual(r1('<think>t</think><answer>```sql\nSELECT 1</answer>'), { sql: null, formatOk: false, think: 't', answer: '```sql\nSELECT 1' });
  assert.deepEqual(r1('<think>t</think><answer>```sql\n \n```</answer>'), { sql: null, formatOk: false, think: 't', answer: '```sql\n \n```' });
  assert.deepEqual(r1('<think>t</think><answer>SELECT 1</answer>'), { sql: null, formatOk: false, think: 't', answer: 'SELECT 1' });
});

test('sql-r1: the last ```sql block of the answer wins; a fence outside <answer> does not count', () => {
  assert.equal(r1('<think>t</think><answer>```sql\nSELECT 1\n``` or ```sql\nSELECT 2\n```</answer>').sql, 'SELECT 2');
  assert.equal(r1('<think>```sql\nSELECT 9\n```</think><answer>no code</answer>').formatOk, false);
});

test('sql-r1: tags counted once each and in order, anywhere in the response', () => {
  assert.equal(r1('<answer>```sql\nSELECT 1\n```</answer><think>t</think>').formatOk, false, 'answer before think');
  assert.equal(r1('<think>a</think><think>b</think><answer>```sql\nSELECT 1\n```</answer>').formatOk, false, 'two <think>');
  assert.equal(r1('<think>t</think><answer>```sql\nSELECT 1\n```</answer> see <answer>').formatOk, false, 'a third tag in prose');
  assert.equal(r1('<think>t</think>\n<answer>```sql\nSELECT 1\n```</answer>').formatOk, true);
});

test('sql-r1: a prefilled <think> (prefix) is part of the response the rule reads', () => {
  const completion = 'I count singers.\n</think>\n<answer>\n```sql\nSELECT count(*) FROM singer\n```\n</answer>';
  assert.equal(r1(completion).formatOk, false, 'without the prefill there is no <think>');
  assert.deepEqual(r1('<think>\n' + completion), { sql: 'SELECT count(*) FROM singer', formatOk: true, think: 'I count singers.', answer: '```sql\nSELECT count(*) FROM singer\n```' });
});

test("whitespace is Python's: \\x1c-\\x1f and \\x85 are whitespace, \\ufeff is not", () => {
  assert.equal(pyStrip('\x1f\x85 a \u3000'), 'a');
  assert.equal(pyStrip('\ufeffa'), '\ufeffa');
  assert.equal(collapseWhitespace('SELECT\x1c\n 1\ufeff'), 'SELECT 1\ufeff');
  assert.equal(goldForRule('sql-r1', 'SELECT a\n  FROM t'), 'SELECT a FROM t');
  assert.equal(goldForRule('arctic', 'SELECT a\n  FROM t'), 'SELECT a\n  FROM t');
});

// ---------------------------------------------------------------- arctic (parse_response)

test('arctic: the last closed ```sql block anywhere, stripped; nothing else counts', () => {
  assert.equal(arctic('<think>t</think><answer>```sql\n  SELECT 1;  \n```</answer>'), 'SELECT 1;');
  assert.equal(arctic('```sql\nSELECT 1\n```\n```sql\nSELECT 2\n```'), 'SELECT 2');
  assert.equal(arctic('<think>```sql\nSELECT 3\n```</think><answer>none</answer>'), 'SELECT 3', 'the pattern searches the whole response');
  assert.equal(arctic('```SQL\nSELECT 1\n```'), null, 'case-sensitive');
  assert.equal(arctic('```sql\nSELECT 1'), null, 'unclosed');
  assert.equal(arctic('```sql\n```'), null, 'empty');
  assert.equal(arctic('SELECT 1'), null, 'bare SQL');
  assert.equal(arctic('<answer>SELECT 1</answer>'), null, 'unfenced answer');
  // ```sql\s*(.*?)\s*```: on ```sqlite the \s* matches nothing and the block starts with 'ite'
  assert.equal(arctic('```sqlite\nSELECT 1\n```'), 'ite\nSELECT 1');
});

test('which rules can read which templates: compact (bare SQL) needs lenient; plain (no tags) cannot satisfy sql-r1', () => {
  assert.match(extractionMismatch('arctic', 'compact')!, /bare SQL.*'arctic'.*use extract: lenient/);
  assert.match(extractionMismatch('sql-r1', 'compact')!, /use extract: lenient/);
  assert.match(extractionMismatch('sql-r1', 'plain')!, /<think>\/<answer>/);
  for (const [rule, template] of [['lenient', 'compact'], ['arctic', 'plain'], ['arctic', 'think'], ['sql-r1', 'think'], ['lenient', 'plain']] as const) {
    assert.equal(extractionMismatch(rule, template), null, `${rule} ${template}`);
  }
});
