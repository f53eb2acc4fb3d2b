// Every preset's table with exact values worked out by hand, each term reported separately, and the scorer
// on a real Spider database (several statements, DISTINCT, ORDER BY, refusals, the prefilled <think>).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RewardScorer } from '../../src/reward/scorer.js';
import { resolveDesign, scoreContext } from '../../src/reward/presets.js';
import { rowsF1, type RewardContext, type Verdict } from '../../src/reward/components.js';
import { extractWith } from '../../src/reward/extract.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { SPIDER_DIR, NO_SPIDER } from '../helpers/paths.js';

const GOLD = 'SELECT name FROM singer WHERE age > 30';
const rows = (...r: (string | number)[][]) => ({ kind: 'rows' as const, columns: [], rows: r, ms: 0 });
/** A context as the scorer builds it for `preset` (its extraction rule), with the verdict given. */
function ctx(preset: string, completion: string, verdict: Verdict, extra: Partial<RewardContext> = {}, prefix = ''): RewardContext {
  const response = prefix + completion;
  return { completion, prefix, response, extraction: extractWith(resolveDesign(preset).extract, response), goldSql: GOLD, verdict, pred: null, gold: null, syntaxOk: null, schema: null, ...extra };
}
const think = (sql: string, t = 'reasoning') => `<think>${t}</think><answer>\`\`\`sql\n${sql}\n\`\`\`</answer>`;
const full = async (preset: string, c: RewardContext) => scoreContext(resolveDesign(preset), c);
const score = async (preset: string, c: RewardContext) => (await full(preset, c)).reward;
const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test('arctic: 1 match / 0.1 executable but wrong / 0 error, refused, timeout, no SQL', async () => {
  assert.equal(await score('arctic', ctx('arctic', think(GOLD), 'match')), 1);
  assert.equal(await score('arctic', ctx('arctic', think('SELECT 1'), 'mismatch')), 0.1);
  assert.equal(await score('arctic', ctx('arctic', think('SELEC'), 'error')), 0);
  assert.equal(await score('arctic', ctx('arctic', think('DELETE FROM singer'), 'refused')), 0);
  assert.equal(await score('arctic', ctx('arctic', think('x'), 'timeout')), 0);
  assert.equal(await score('arctic', ctx('arctic', 'no sql here', 'no_sql')), 0);
});

test('arctic extraction: unfenced, bare, unclosed or upper-case fenced SQL is no SQL (0), even if it would match', () => {
  for (const c of ['<answer>SELECT name FROM singer WHERE age > 30</answer>', 'SELECT name FROM singer WHERE age > 30', '```sql\nSELECT name FROM singer WHERE age > 30', '```SQL\nSELECT name FROM singer WHERE age > 30\n```']) {
    assert.equal(ctx('arctic', c, 'no_sql').extraction.sql, null, c);
  }
  assert.equal(ctx('arctic', 'Answer:\n```sql\nSELECT name FROM singer WHERE age > 30\n```', 'match').extraction.sql, GOLD);
});

test('sql-r1: each term separately; format ±1 gates execution ±2, result ±3 and length', async () => {
  // bad format (no tags): −1 and nothing else, whatever the SQL would do
  assert.deepEqual(await full('sql-r1', ctx('sql-r1', '```sql\nSELECT name FROM singer WHERE age > 30\n```', 'no_sql')), { reward: -1, components: { format: -1, execution: 0, result: 0, length: 0 }, details: { format: { ok: false } } });
  // mismatch: 1 + 2 − 3 = 0
  assert.deepEqual((await full('sql-r1', ctx('sql-r1', think('SELECT 1'), 'mismatch'))).components, { format: 1, execution: 2, result: -3, length: 0 });
  // unexecutable (error, refused, timeout): 1 − 2 + 0 = −1
  for (const v of ['error', 'refused', 'timeout'] as const) assert.equal(await score('sql-r1', ctx('sql-r1', think('SELEC'), v)), -1, v);
  // a result over the size cap ran: executable and wrong, 1 + 2 − 3
  assert.equal(await score('sql-r1', ctx('sql-r1', think('SELECT 1'), 'too_large')), 0);
  // gold error: 1 + 0 + 0 (SQL-R1's code scores it a Match by its pred_passes bug; sqlrl follows the intent: documented deviation)
  assert.equal(await score('sql-r1', ctx('sql-r1', think('SELECT 1'), 'gold_error')), 1);
});

test('sql-r1 length term by hand: stripped think and answer, collapsed SQL with its ;, code points, the 2048 cap', async () => {
  // think 'plan' = 4; SQL as collapsed 'SELECT name FROM singer ;' = 25
  const c = ctx('sql-r1', '<think>  plan \n</think>\n<answer>\n```sql\nSELECT name\n   FROM singer ;\n```\n</answer>', 'match');
  assert.equal(c.extraction.sql, 'SELECT name FROM singer ;');
  const b = await full('sql-r1', c);
  // answer as SQL-R1 strips it: '```sql\nSELECT name\n   FROM singer ;\n```' = 3+3+1+11+1+16+1+3 = 39
  near(b.components.length!, ((4 + 39) / 2048) * 0.5 + 25 / 39);
  near(b.reward, 6 + ((4 + 39) / 2048) * 0.5 + 25 / 39);
  // over 2048 characters the first part is capped at 0.5: think 3000 'x', answer '```sql\nSELECT 1\n```' = 3+3+1+8+1+3 = 19, SQL 8
  near((await full('sql-r1', ctx('sql-r1', think('SELECT 1', 'x'.repeat(3000)), 'match'))).components.length!, 0.5 + 8 / 19);
  // ten emoji are ten characters (Python code points), not twenty UTF-16 units: L = 10 + 19
  near((await full('sql-r1', ctx('sql-r1', think('SELECT 1', '😀'.repeat(10)), 'match'))).components.length!, (29 / 2048) * 0.5 + 8 / 19);
});

test('sql-r1 with the prompt-prefilled <think>: a correct response scores 6 + length, not −1', async () => {
  const completion = 'count\n</think>\n<answer>\n```sql\nSELECT 1\n```\n</answer>';
  assert.equal(await score('sql-r1', ctx('sql-r1', completion, 'match')), -1, 'without the prefix the format fails');
  // think 'count' = 5, answer '```sql\nSELECT 1\n```' = 19, SQL 8
  near(await score('sql-r1', ctx('sql-r1', completion, 'match', {}, '<think>\n')), 6 + (24 / 2048) * 0.5 + 8 / 19);
});

test('seed-000: 1 × match + 0.3 × component Jaccard when not matching', async () => {
  assert.equal(await score('seed-000', ctx('seed-000', think(GOLD), 'match')), 1);
  // same SELECT and FROM, different WHERE: components {select:name, from:singer, where:age > 30} vs {.., where:age > 40} -> 2/4
  assert.equal(await score('seed-000', ctx('seed-000', '```sql\nSELECT name FROM singer WHERE age > 40\n```', 'mismatch')), 0.15);
  assert.equal(await score('seed-000', ctx('seed-000', 'nothing', 'no_sql')), 0);
});

test('seed-002: +5 match, −1 invalid, −2 empty, F1 of rows on a mismatch', async () => {
  assert.equal(await score('seed-002', ctx('seed-002', '```sql\nSELECT 1\n```', 'match')), 5);
  assert.equal(await score('seed-002', ctx('seed-002', '```sql\nSELEC\n```', 'error')), -1);
  assert.equal(await score('seed-002', ctx('seed-002', '', 'no_sql')), -2);
  const partial = ctx('seed-002', '```sql\nSELECT name FROM singer\n```', 'mismatch', { gold: rows(['a'], ['b']), pred: rows(['a'], ['b'], ['c'], ['d']) });
  assert.equal(await score('seed-002', partial), Math.round(((2 * (0.5 * 1)) / (0.5 + 1)) * 1e12) / 1e12); // precision 2/4, recall 2/2
  assert.equal(rowsF1([['a'], ['a']], [['a']]), 2 * (1 * 0.5) / 1.5, 'multiset: one of two duplicates found');
  assert.equal(rowsF1([], []), 1);
  assert.equal(rowsF1([[1]], []), 0);
});

test('seed-003: 0.2 syntax + 0.6 execution + 0.2 (token Jaccard − 0.2)', async () => {
  // identical SQL, match: 0.2·1 + 0.6·1 + 0.2·(1 − 0.2) = 0.96
  assert.equal(await score('seed-003', ctx('seed-003', `\`\`\`sql\n${GOLD}\n\`\`\``, 'match', { syntaxOk: true })), 0.96);
  // error: 0.2·(−0.5) + 0.6·(−0.8) + 0.2·(J − 0.2); tokens of 'SELEC name FROM singer' vs gold: {selec,name,from,singer} vs {select,name,from,singer,where,age,>,30} -> 3/9
  const e = await score('seed-003', ctx('seed-003', '```sql\nSELEC name FROM singer\n```', 'error', { syntaxOk: false }));
  assert.equal(e, Math.round((-0.1 - 0.48 + 0.2 * (3 / 9 - 0.2)) * 1e12) / 1e12);
  // no SQL: 0.2·(−0.5) + 0.6·(−0.8) + 0.2·(−0.2) = −0.62
  assert.equal(await score('seed-003', ctx('seed-003', '', 'no_sql', { syntaxOk: false })), -0.62);
});

test('seed-004: SQL-R1 baseline + hallucination −0.5 each + structural 0.3/0.3/0.2 + syntax 0.2', async () => {
  const schema = new Map([['singer', new Set(['name', 'age', 'singer_id'])]]);
  const c = ctx('seed-004', think('SELECT name FROM singer WHERE agee > 30'), 'error', { schema, syntaxOk: false });
  // unexecutable (no such column): baseline 1 − 2 = −1; hallucination −0.5; structural select 1·0.3 + where 0·0.3 + join 1·0.2; syntax 0
  assert.equal(await score('seed-004', c), Math.round((-1 - 0.5 + 0.3 + 0.2) * 1e12) / 1e12);
});

test('a custom composition from config; unknown names are refused with the known ones', async () => {
  const d = resolveDesign({ components: [{ name: 'execution', weight: 2, params: { match: 1 }, gate: 'none' }, { name: 'syntax', weight: 0.5, params: {}, gate: 'none' }] });
  assert.equal(d.extract, 'lenient');
  assert.equal((await scoreContext(d, ctx('seed-000', '```sql\nSELECT 1\n```', 'match', { syntaxOk: true }))).reward, 2.5);
  assert.throws(() => resolveDesign('nope'), /unknown reward preset 'nope' \(known: arctic, sql-r1/);
  assert.throws(() => resolveDesign({ components: [{ name: 'speling', weight: 1, params: {}, gate: 'none' }] }), /unknown reward component 'speling' \(known: execution, result/);
  assert.equal(resolveDesign({ preset: 'arctic', extract: 'lenient' }).extract, 'lenient', 'lenient extraction is an explicit option');
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

test('several statements, DISTINCT, ORDER BY, refusals and the collapse of a -- comment, per preset and mode', { skip: NO_SPIDER && 'Spider data missing' }, async () => {
  const fenced = (sql: string) => `<think>t</think><answer>\`\`\`sql\n${sql}\n\`\`\`</answer>`;
  const cases: { name: string; gold: string; pred: string; sqlR1: [string, number]; arctic: [string, number]; arcticBird: [string, number] }[] = [
    // spider mode runs the first statement (sqlparse.parse(s)[0]); strict and bird (Python's sqlite3) refuse two
    { name: 'gold; anything', gold: 'SELECT count(*) FROM singer', pred: 'SELECT count(*) FROM singer; SELECT 1', sqlR1: ['match', 6], arctic: ['error', 0], arcticBird: ['error', 0] },
    { name: 'a trailing ; and comment is one statement', gold: 'SELECT count(*) FROM singer', pred: 'SELECT count(*) FROM singer; /* done */', sqlR1: ['match', 6], arctic: ['match', 1], arcticBird: ['match', 1] },
    // spider strips DISTINCT from both; strict keeps it (6 rows vs 3 countries); bird compares sets
    { name: 'DISTINCT', gold: 'SELECT country FROM singer', pred: 'SELECT DISTINCT country FROM singer', sqlR1: ['match', 6], arctic: ['mismatch', 0.1], arcticBird: ['match', 1] },
    // order is judged from the gold: none there, so the prediction's ORDER BY does not matter
    { name: 'ORDER BY only in the prediction', gold: 'SELECT name FROM singer', pred: 'SELECT name FROM singer ORDER BY age', sqlR1: ['match', 6], arctic: ['match', 1], arcticBird: ['match', 1] },
    { name: 'ORDER BY reversed', gold: 'SELECT name FROM singer ORDER BY age', pred: 'SELECT name FROM singer ORDER BY age DESC', sqlR1: ['mismatch', 0], arctic: ['mismatch', 0.1], arcticBird: ['match', 1] },
    // the sandbox refuses writes: refused, not invalid SQL
    { name: 'DELETE', gold: 'SELECT count(*) FROM singer', pred: 'DELETE FROM singer', sqlR1: ['refused', -1], arctic: ['refused', 0], arcticBird: ['refused', 0] },
    // SQL-R1 collapses newlines, so a -- comment swallows the rest of the query: 'SELECT name -- names FROM singer'
    { name: '-- comment', gold: 'SELECT name FROM singer', pred: 'SELECT name -- names\nFROM singer', sqlR1: ['error', -1], arctic: ['match', 1], arcticBird: ['match', 1] },
  ];
  const items = (c: (typeof cases)[number]) => [{ completion: fenced(c.pred), dbPath: db, goldSql: c.gold }];
  const r1 = new RewardScorer(exec, 'sql-r1');
  const ar = new RewardScorer(exec, 'arctic');
  const arBird = new RewardScorer(exec, { preset: 'arctic', mode: 'bird' });
  for (const c of cases) {
    const [a] = await r1.score(items(c));
    assert.equal(a!.status, c.sqlR1[0], `sql-r1 ${c.name}`);
    // length: think 't' (1) + the stripped answer; SQL share of the answer
    const want = c.sqlR1[0] === 'match' ? c.sqlR1[1] + a!.components.length! : c.sqlR1[1];
    near(a!.reward, want);
    const [b] = await ar.score(items(c));
    assert.deepEqual([b!.status, b!.reward], c.arctic, `arctic ${c.name}`);
    const [d] = await arBird.score(items(c));
    assert.deepEqual([d!.status, d!.reward], c.arcticBird, `arctic (bird) ${c.name}`);
  }
  const [pre] = await r1.score([{ completion: 'plan\n</think>\n<answer>\n```sql\nSELECT count(*) FROM singer\n```\n</answer>', prefix: '<think>\n', dbPath: db, goldSql: 'SELECT count(*) FROM singer' }]);
  assert.equal(pre!.status, 'match');
  assert.deepEqual(Object.keys(pre!.components), ['format', 'execution', 'result', 'length']);
});
