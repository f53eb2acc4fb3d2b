// The `sql-r1` and `arctic` presets against the published rules on 400+ generated completions (mutations of
// Spider dev gold SQL: fences, whitespace, tags, prefilled <think>, statements, DISTINCT, ORDER BY, comments),
// twice: against a standard-library Python re-statement of the rules (test/reward/ref/published_rules.py),
// and against SQL-R1's own compute_score (shared/reference/sql-r1, needs pip's func_timeout and sqlparse).
// Every disagreement must be a deviation docs/rewards.md documents; here only one can occur: a gold query
// that raises (SQL-R1's code scores it a Match by its `pred_passes == 3` bug; sqlrl gives the format term only).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RewardScorer, type RewardResult } from '../../src/reward/scorer.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { python, skipUnless, skipUnlessPython } from '../helpers/optional.js';
import { HAVE_SPIDER, NO_SPIDER, REPO_ROOT, SPIDER_DIR } from '../helpers/paths.js';
import { referenceCases as cases, type Case } from './ref/cases.js';

const REFERENCE = resolve(REPO_ROOT, '../shared/reference/sql-r1');
const executor = new SqlExecutor({ workers: 2, timeoutMs: 20_000 });
after(() => executor.close());

function runPython(interpreter: string, args: string[], items: unknown[]): { results: Record<string, unknown>[] } {
  const r = spawnSync(interpreter, args, { input: JSON.stringify({ items }), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { results: Record<string, unknown>[] };
}

async function sqlrlScores(all: Case[]): Promise<{ sqlR1: RewardResult[]; arctic: RewardResult[] }> {
  const items = all.map((c) => ({ completion: c.completion, prefix: c.prefix, dbPath: c.db, goldSql: c.gold }));
  // Arctic's evaluation compares with BIRD's set equality: the preset with mode bird is its rule exactly
  return { sqlR1: await new RewardScorer(executor, 'sql-r1').score(items), arctic: await new RewardScorer(executor, { preset: 'arctic', mode: 'bird' }).score(items) };
}

const TERMS = ['format', 'execution', 'result', 'length'] as const;
const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

/** Each disagreement named by its documented deviation; anything else fails. */
function compareSqlR1(all: Case[], ours: RewardResult[], theirs: { total: number; terms: Record<string, number>; status: string | null }[], label: string): Map<string, number> {
  const deviations = new Map<string, number>();
  all.forEach((c, i) => {
    const o = ours[i]!;
    const t = theirs[i]!;
    const same = close(o.reward, t.total) && TERMS.every((k) => close(o.components[k] ?? 0, t.terms[k]!));
    if (same) return;
    // docs/rewards.md, "gold query raises": the published code scores Match; sqlrl gives the format term only
    const goldRaises = c.kind === 'gold-raises' && o.status === 'gold_error' && t.status === 'Match' && o.reward === 1;
    assert.ok(goldRaises, `${label} ${c.id}: sqlrl ${o.reward} ${JSON.stringify(o.components)} (${o.status}) vs published ${t.total} ${JSON.stringify(t.terms)} (${t.status})\n${c.prefix}${c.completion}\n-- gold: ${c.gold}`);
    deviations.set('gold-raises', (deviations.get('gold-raises') ?? 0) + 1);
  });
  return deviations;
}

test('sql-r1 and arctic presets = the published rules re-stated in stdlib Python, on 400+ mutated Spider dev completions', { skip: NO_SPIDER || skipUnless(!!python(), 'needs python3'), timeout: 300_000 }, async () => {
  const all = cases(SPIDER_DIR);
  assert.ok(all.length >= 200, `${all.length} completions`);
  const ref = runPython(python(), [join(REPO_ROOT, 'test/reward/ref/published_rules.py')], all.map((c) => ({ id: c.id, response: c.prefix + c.completion, gold: c.gold, db: c.db })));
  const ours = await sqlrlScores(all);
  const sqlR1Ref = ref.results.map((r) => r.sql_r1 as { total: number; terms: Record<string, number>; status: string | null });
  const dev = compareSqlR1(all, ours.sqlR1, sqlR1Ref, 'sql-r1 vs re-statement');
  all.forEach((c, i) => {
    const a = ref.results[i]!.arctic as { total: number; status: string };
    assert.equal(ours.arctic[i]!.reward, a.total, `arctic ${c.id}: sqlrl ${ours.arctic[i]!.reward} (${ours.arctic[i]!.status}) vs published ${a.total} (${a.status})`);
  });
  // the sample exercises every branch of both rules
  const statuses = new Set(sqlR1Ref.map((r) => r.status));
  for (const s of [null, 'Match', 'Mismatch', 'Unexecutable']) assert.ok(statuses.has(s), `no ${s} in the sample`);
  const arcticTotals = new Set(ref.results.map((r) => (r.arctic as { total: number }).total));
  assert.deepEqual([...arcticTotals].sort(), [0, 0.1, 1]);
  assert.equal(dev.get('gold-raises'), 6, 'the six raising golds are the only disagreements');
  console.log(`reference (stdlib re-statement): ${all.length} completions; sql-r1 disagreements ${JSON.stringify(Object.fromEntries(dev))}; arctic disagreements 0`);
});

test("sql-r1 preset = SQL-R1's own compute_score (shared/reference/sql-r1) on the same completions", {
  skip: NO_SPIDER || skipUnless(existsSync(join(REFERENCE, 'synsql.py')), `SQL-R1 reference code absent at ${REFERENCE}`) || skipUnlessPython('sqlparse', 'func_timeout'),
  timeout: 600_000,
}, async () => {
  const all = HAVE_SPIDER ? cases(SPIDER_DIR) : [];
  const real = runPython(python('sqlparse', 'func_timeout'), [join(REPO_ROOT, 'test/reward/ref/run_sql_r1.py'), REFERENCE, join(SPIDER_DIR, 'database')], all.map((c) => ({ id: c.id, response: c.prefix + c.completion, gold: c.gold, db_id: c.db_id })));
  const restated = runPython(python(), [join(REPO_ROOT, 'test/reward/ref/published_rules.py')], all.map((c) => ({ id: c.id, response: c.prefix + c.completion, gold: c.gold, db: c.db })));
  const theirs = real.results as unknown as { total: number; terms: Record<string, number>; status: string | null }[];
  // the re-statement is the published code, term for term (so the stdlib test above stands for it where pip is unavailable)
  theirs.forEach((t, i) => {
    const r = restated.results[i]!.sql_r1 as { total: number; terms: Record<string, number> };
    assert.ok(close(t.total, r.total) && TERMS.every((k) => close(t.terms[k]!, r.terms[k]!)), `re-statement ${all[i]!.id}: ${r.total} vs published ${t.total}`);
  });
  const ours = await sqlrlScores(all);
  const dev = compareSqlR1(all, ours.sqlR1, theirs, 'sql-r1 vs published code');
  assert.equal(dev.get('gold-raises'), 6);
  console.log(`reference (SQL-R1's compute_score): ${all.length} completions; disagreements ${JSON.stringify(Object.fromEntries(dev))}`);
});
