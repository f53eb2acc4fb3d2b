// Every preset's table with exact values, and the scorer on a real Spider database (errors, timeouts, hallucinations).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RewardScorer } from '../../src/reward/scorer.js';
import { resolveDesign, scoreContext } from '../../src/reward/presets.js';
import { rowsF1, type RewardContext, type Verdict } from '../../src/reward/components.js';
import { extractSql } from '../../src/reward/extract.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { SPIDER_DIR, NO_SPIDER } from '../helpers/paths.js';

const GOLD = 'SELECT name FROM singer WHERE age > 30';
const rows = (...r: (string | number)[][]) => ({ kind: 'rows' as const, columns: [], rows: r, ms: 0 });
function ctx(completion: string, verdict: Verdict, extra: Partial<RewardContext> = {}): RewardContext {
  return { completion, extraction: extractSql(completion), goldSql: GOLD, verdict, pred: null, gold: null, syntaxOk: null, schema: null, ...extra };
}
const think = (sql: string, t = 'reasoning') => `<think>${t}</think><answer>\`\`\`sql\n${sql}\n\`\`\`</answer>`;
const score = (preset: string, c: RewardContext) => scoreContext(resolveDesign(preset), c).reward;

test('arctic: 1 match / 0.1 executable but wrong / 0 error, timeout, no SQL', () => {
  assert.equal(score('arctic', ctx(think(GOLD), 'match')), 1);
  assert.equal(score('arctic', ctx(think('SELECT 1'), 'mismatch')), 0.1);
  assert.equal(score('arctic', ctx(think('SELEC'), 'error')), 0);
  assert.equal(score('arctic', ctx(think('x'), 'timeout')), 0);
  assert.equal(score('arctic', ctx('no sql here', 'no_sql')), 0);
});

test('sql-r1: format ±1, then exec ±2, result ±3, length on a match', () => {
  // bad format: −1 and nothing else, whatever the SQL did
  assert.equal(score('sql-r1', ctx('```sql\nSELECT name FROM singer WHERE age > 30\n```', 'match')), -1);
  // mismatch: 1 + 2 − 3 = 0
  assert.equal(score('sql-r1', ctx(think('SELECT 1'), 'mismatch')), 0);
  // unexecutable: 1 − 2 + 0 = −1
  assert.equal(score('sql-r1', ctx(think('SELEC'), 'error')), -1);
  assert.equal(score('sql-r1', ctx(think('x'), 'timeout')), -1);
  // gold error: 1 + 0 + 0 (SQL-R1's code scores it a Match by a bug; we follow the intent)
  assert.equal(score('sql-r1', ctx(think('SELECT 1'), 'gold_error')), 1);
  // match: 1 + 2 + 3 + length; think 'reasoning' (9) + answer, sql share of the answer
  const c = ctx(think(GOLD), 'match');
  const answer = c.extraction.answer!;
  const L = 9 + answer.length;
  assert.equal(score('sql-r1', c), Math.round((6 + (L / 2048) * 0.5 + GOLD.length / answer.length) * 1e12) / 1e12);
  // over the 2048-character limit the first term is capped at 0.5
  const long = ctx(think(GOLD, 'x'.repeat(3000)), 'match');
  assert.equal(score('sql-r1', long), Math.round((6 + 0.5 + GOLD.length / long.extraction.answer!.length) * 1e12) / 1e12);
  // characters are code points, not UTF-16 units
  const emoji = ctx(think(GOLD, '😀'.repeat(10)), 'match');
  const Le = 10 + emoji.extraction.answer!.length;
  assert.equal(score('sql-r1', emoji), Math.round((6 + (Le / 2048) * 0.5 + GOLD.length / emoji.extraction.answer!.length) * 1e12) / 1e12);
});

test('seed-000: 1 × match + 0.3 × component Jaccard when not matching', () => {
  assert.equal(score('seed-000', ctx(think(GOLD), 'match')), 1);
  // same SELECT and FROM, different WHERE: components {select:name, from:singer, where:age > 30} vs {.., where:age > 40} -> 2/4
  assert.equal(score('seed-000', ctx('```sql\nSELECT name FROM singer WHERE age > 40\n```', 'mismatch')), 0.15);
  assert.equal(score('seed-000', ctx('nothing', 'no_sql')), 0);
});

test('seed-002: +5 match, −1 invalid, −2 empty, F1 of rows on a mismatch', () => {
  assert.equal(score('seed-002', ctx('```sql\nSELECT 1\n```', 'match')), 5);
  assert.equal(score('seed-002', ctx('```sql\nSELEC\n```', 'error')), -1);
  assert.equal(score('seed-002', ctx('', 'no_sql')), -2);
  const partial = ctx('```sql\nSELECT name FROM singer\n```', 'mismatch', { gold: rows(['a'], ['b']), pred: rows(['a'], ['b'], ['c'], ['d']) });
  assert.equal(score('seed-002', partial), Math.round(((2 * (0.5 * 1)) / (0.5 + 1)) * 1e12) / 1e12); // precision 2/4, recall 2/2
  assert.equal(rowsF1([['a'], ['a']], [['a']]), 2 * (1 * 0.5) / 1.5, 'multiset: one of two duplicates found');
  assert.equal(rowsF1([], []), 1);
  assert.equal(rowsF1([[1]], []), 0);
});

test('seed-003: 0.2 syntax + 0.6 execution + 0.2 (token Jaccard − 0.2)', () => {
  // identical SQL, match: 0.2·1 + 0.6·1 + 0.2·(1 − 0.2) = 0.96
  assert.equal(score('seed-003', ctx(`\`\`\`sql\n${GOLD}\n\`\`\``, 'match', { syntaxOk: true })), 0.96);
  // error: 0.2·(−0.5) + 0.6·(−0.8) + 0.2·(J − 0.2); tokens of 'SELEC name FROM singer' vs gold: {selec,name,from,singer} vs {select,name,from,singer,where,age,>,30} -> 3/9
  const e = score('seed-003', ctx('```sql\nSELEC name FROM singer\n```', 'error', { syntaxOk: false }));
  assert.equal(e, Math.round((-0.1 - 0.48 + 0.2 * (3 / 9 - 0.2)) * 1e12) / 1e12);
  // no SQL: 0.2·(−0.5) + 0.6·(−0.8) + 0.2·(−0.2) = −0.62
  assert.equal(score('seed-003', ctx('', 'no_sql', { syntaxOk: false })), -0.62);
});

test('seed-004: SQL-R1 baseline + hallucination −0.5 each + structural 0.3/0.3/0.2 + syntax 0.2', () => {
  const schema = new Map([['singer', new Set(['name', 'age', 'singer_id'])]]);
  // mismatch with one hallucinated column: baseline 0 + (−0.5) + select 1·0.3 + where 0·0.3 + join 1·0.2 + 0.2
  const c = ctx(think('SELECT name FROM singer WHERE agee > 30'), 'error', { schema, syntaxOk: false });
  // unexecutable (no such column): baseline 1 − 2 = −1; hallucination −0.5; structural 0.3 + 0 + 0.2; syntax 0
  assert.equal(score('seed-004', c), Math.round((-1 - 0.5 + 0.3 + 0.2) * 1e12) / 1e12);
});

test('a custom composition from config', () => {
  const d = resolveDesign({ components: [{ name: 'execution', weight: 2, params: { match: 1 }, gate: 'none' }, { name: 'syntax', weight: 0.5, params: {}, gate: 'none' }] });
  assert.equal(scoreContext(d, ctx('```sql\nSELECT 1\n```', 'match', { syntaxOk: true })).reward, 2.5);
  assert.throws(() => resolveDesign('nope'), /unknown reward preset 'nope' \(known: arctic, sql-r1/);
});

const exec = new SqlExecutor({ workers: 2, timeoutMs: 1500 });
after(() => exec.close());
const db = join(SPIDER_DIR, 'database', 'concert_singer', 'concert_singer.sqlite');

test('RewardScorer on the real database: match, wrong, error, timeout, no SQL, hallucinated alias column', { skip: NO_SPIDER && 'Spider data missing' }, async () => {
  const scorer = new RewardScorer(exec, 'seed-004');
  const items = [
    think('SELECT name FROM singer WHERE age > 30'),
    think('SELECT name FROM singer WHERE age > 40'),
    think('SELECT nme FROM singer'),
    think('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'),
    'I cannot answer.',
    think('SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singerid WHERE T1.age > 30'),
  ].map((completion) => ({ completion, dbPath: db, goldSql: 'SELECT name FROM singer WHERE age > 30' }));
  const out = await scorer.score(items);
  assert.deepEqual(out.map((r) => r.status), ['match', 'mismatch', 'error', 'timeout', 'no_sql', 'error']);
  assert.deepEqual(out.map((r) => (r.details.hallucination as { names: string[] } | undefined)?.names ?? []), [[], [], ['column nme'], [], [], ['column singer_in_concert.singerid']]);
  const arctic = await new RewardScorer(exec, 'arctic').score(items);
  assert.deepEqual(arctic.map((r) => r.reward), [1, 0.1, 0, 0, 0, 0]);
});
