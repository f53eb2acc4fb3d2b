// Rewards when the sandbox fails rather than the SQL: a worker killed mid-query, a missing database. The
// completion gets status infra_error / db_missing and `excluded`, never the reward of wrong SQL; and the
// prediction's time budget relative to its gold, which cuts a runaway in about a second.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RewardScorer } from '../../src/reward/scorer.js';
import type { RewardConfig } from '../../src/reward/presets.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { predictionBudgetMs } from '../../src/sql/match.js';
import { RUNAWAY, countTo, smallDbDir } from '../sql/small-db.js';

const { dir, db: DB } = smallDbDir('sqlrl-infra-');
after(() => rmSync(dir, { recursive: true, force: true }));

// A design with a penalty for bad SQL (as seed-002's −1): an infrastructure failure must not get it.
const PENALISING: RewardConfig = { mode: 'strict', components: [{ name: 'execution', weight: 1, params: { match: 1, mismatch: 0.1, error: -1, timeout: -1 }, gate: 'none' }] };
const fence = (sql: string) => '```sql\n' + sql + '\n```';

test('predictionBudgetMs: max(floor, factor × gold time), capped by the timeout; no gold time, the floor', () => {
  const rows = (ms: number) => ({ kind: 'rows' as const, columns: [], rows: [], ms });
  const b = { floorMs: 1000, factor: 10 };
  assert.equal(predictionBudgetMs(rows(5), b, 30_000), 1000);
  assert.equal(predictionBudgetMs(rows(250), b, 30_000), 2500);
  assert.equal(predictionBudgetMs(rows(5000), b, 30_000), 30_000);
  assert.equal(predictionBudgetMs({ kind: 'error', message: 'x', ms: 3 }, b, 30_000), 1000);
  assert.equal(predictionBudgetMs({ kind: 'timeout', ms: 30_000 }, b, 30_000), 1000);
  assert.equal(predictionBudgetMs(rows(5), b, 400), 400);
});

test('a runaway prediction is cut at its budget (about the floor for a fast gold), not at the full timeout', async () => {
  const exec = new SqlExecutor({ workers: 2, timeoutMs: 20_000 });
  try {
    const item = { completion: fence(RUNAWAY), dbPath: DB, goldSql: 'SELECT count(*) FROM singer' };
    const t0 = performance.now();
    const [r] = await new RewardScorer(exec, PENALISING, { budget: { floorMs: 600, factor: 10 } }).score([item]);
    const wall = performance.now() - t0;
    assert.equal(r!.status, 'timeout');
    assert.equal(r!.reward, -1);
    assert.ok(r!.pred!.ms >= 600 && wall < 3000, `pred ${r!.pred!.ms.toFixed(0)} ms, wall ${wall.toFixed(0)} ms`);
  } finally {
    await exec.close();
  }
});

test('a missing database: status db_missing, excluded, reward 0 (not the −1 of an SQL error), the file named', async () => {
  const exec = new SqlExecutor({ workers: 2, timeoutMs: 5000 });
  try {
    const scorer = new RewardScorer(exec, PENALISING);
    const gone = join(dir, 'no_such_db.sqlite');
    const [missing, invalid] = await scorer.score([
      { completion: fence('SELECT count(*) FROM singer'), dbPath: gone, goldSql: 'SELECT count(*) FROM singer' },
      { completion: fence('SELEC count(*) FROM singer'), dbPath: DB, goldSql: 'SELECT count(*) FROM singer' },
    ]);
    assert.deepEqual([missing!.status, missing!.excluded, missing!.reward, missing!.components], ['db_missing', true, 0, {}]);
    assert.equal(missing!.details.error, `cannot open database ${gone}: unable to open database file`);
    assert.deepEqual([invalid!.status, invalid!.excluded, invalid!.reward], ['error', undefined, -1]);
  } finally {
    await exec.close();
  }
});

async function workerOtherThan(exec: SqlExecutor, not: number[]): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const pid = exec.workerPids().find((p) => !not.includes(p));
    if (pid !== undefined) return pid;
    await sleep(10);
  }
  throw new Error('no worker appeared');
}

test('a worker kill -9ed twice while scoring: status infra_error, excluded, no crash; scoring goes on', async () => {
  const exec = new SqlExecutor({ workers: 1, timeoutMs: 30_000 });
  try {
    const scorer = new RewardScorer(exec, PENALISING, { budget: false });
    const gold = 'SELECT count(*) FROM singer';
    await scorer.score([{ completion: fence(gold), dbPath: DB, goldSql: gold }]); // gold cached, worker booted
    const first = await workerOtherThan(exec, []);
    const pending = scorer.score([{ completion: fence(countTo(8_000_000)), dbPath: DB, goldSql: gold }]);
    await sleep(300);
    process.kill(first, 'SIGKILL');
    const second = await workerOtherThan(exec, [first]);
    await sleep(500);
    process.kill(second, 'SIGKILL');
    const [r] = await pending;
    assert.deepEqual([r!.status, r!.excluded, r!.reward], ['infra_error', true, 0]);
    assert.match(String(r!.details.error), /^sandbox worker died \(SIGKILL\); the query was retried once/);
    const [next] = await scorer.score([{ completion: fence(gold), dbPath: DB, goldSql: gold }]);
    assert.deepEqual([next!.status, next!.reward], ['match', 1]);
  } finally {
    await exec.close();
  }
});

test('a worker kill -9ed once while scoring: the retry gives the true reward', async () => {
  const exec = new SqlExecutor({ workers: 1, timeoutMs: 30_000 });
  try {
    const scorer = new RewardScorer(exec, PENALISING, { budget: false });
    const gold = countTo(8_000_000);
    await scorer.score([{ completion: fence('SELECT 1'), dbPath: DB, goldSql: gold }]); // gold cached
    const first = await workerOtherThan(exec, []);
    const pending = scorer.score([{ completion: fence(gold.toLowerCase()), dbPath: DB, goldSql: gold }]);
    await sleep(300);
    process.kill(first, 'SIGKILL');
    const [r] = await pending;
    assert.deepEqual([r!.status, r!.excluded, r!.reward], ['match', undefined, 1]);
    assert.equal(exec.stats.retries, 1);
  } finally {
    await exec.close();
  }
});
