// `npm run bench:rewards` — rewards per second for GRPO-shaped batches on Spider dev (each question with 8
// candidates: gold, a duplicate, perturbed wrong ones, one erroring), in-process and over HTTP, next to a
// naive baseline in the same run (each candidate and its gold run fresh and serially, as the seeds do).
// Then runaway-proofing: the same HTTP load with 0%, 0.2% and 2% of the candidates replaced by a query
// that never ends, at the server's default 30 s timeout, each run with a fresh server; throughput as a
// ratio of the 0% run, latency, stuck workers and the peak memory of the server and its workers. A last
// run repeats 0.2% without the prediction time budget and with the old worker ceiling (workers + 32): the
// behaviour before issue 16, for reference.
import { writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { loadSpider, missingDatabases } from '../src/data/datasets.js';
import type { Example } from '../src/data/types.js';
import { RewardScorer, type RewardItem } from '../src/reward/scorer.js';
import { startRewardServer } from '../src/serve/reward-server.js';
import { resultsEqual, orderMatters } from '../src/sql/compare.js';
import { SqlExecutor, type ExecutorOptions } from '../src/sql/executor.js';
import type { PredictionBudget } from '../src/sql/match.js';
import type { SqlValue } from '../src/sql/types.js';
import { sampleGroupPeak } from './lib/peak-rss.js';

const ROOT = resolve(import.meta.dirname, '..');
const SPIDER = resolve(ROOT, '../shared/data/spider');
const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });

const all = loadSpider(SPIDER, 'dev');
const missing = new Set(missingDatabases(all).map((e) => e.index));
const examples = all.filter((e) => !missing.has(e.index));
const fence = (sql: string) => `<think>...</think><answer>\`\`\`sql\n${sql}\n\`\`\`</answer>`;
const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';

function candidates(gold: string): string[] {
  const noSemi = gold.replace(/;\s*$/, '');
  return [
    noSemi,
    noSemi,
    `${noSemi.replace(/\bLIMIT\s+\d+/i, '')} LIMIT 1`,
    /\bwhere\b/i.test(noSemi) ? noSemi.replace(/\bwhere\b/i, 'WHERE 1 = 0 AND') : `${noSemi.replace(/\b(group by|order by|limit)\b[\s\S]*$/i, '')} WHERE 1 = 0`,
    noSemi.replace(/^\s*select\s+(distinct\s+)?/i, (m) => `${m}1 AS k, `),
    noSemi.replace(/\bfrom\s+(\w+)/i, 'FROM $1_typo'),
    `${noSemi.replace(/\bLIMIT\s+\d+/i, '')} LIMIT 1`,
    noSemi.replace(/\s+/g, ' '),
  ];
}

interface Candidate extends RewardItem {
  example: Example;
}
const items: Candidate[] = examples.flatMap((e) => candidates(e.goldSql).map((sql) => ({ completion: fence(sql), dbPath: e.dbPath, goldSql: e.goldSql, example: e })));

/** The seeds' way: a fresh connection per query, gold and prediction run serially, nothing cached, no timeout. */
function naive(list: RewardItem[]): number {
  let total = 0;
  for (const it of list) {
    const sql = /```sql\n([\s\S]*?)\n```/.exec(it.completion)![1]!;
    const run = (q: string): SqlValue[][] | null => {
      const db = new Database(it.dbPath, { readonly: true });
      try {
        return db.prepare(q).raw(true).all() as SqlValue[][];
      } catch {
        return null;
      } finally {
        db.close();
      }
    };
    const g = run(it.goldSql);
    const p = run(sql);
    total += g && p && resultsEqual(g, p, { mode: 'strict', orderMatters: orderMatters(it.goldSql, 'strict') }) ? 1 : p ? 0.1 : 0;
  }
  return total;
}

/** Every `every`-th candidate (none when 0) replaced by a runaway. */
const withRunaways = (every: number): Candidate[] => items.map((it, i) => (every > 0 && i % every === every - 1 ? { ...it, completion: fence(RUNAWAY) } : it));

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

interface LoadResult {
  rate: number;
  requestsPerS: number;
  p50: number;
  p95: number;
  statuses: Record<string, number>;
  peakWorkers: number;
  peakStuck: number;
  meanStuck: number;
  peakMiB: number;
  seconds: number;
}

/** A fresh server over a fresh pool; `list` sent as requests of 8 (one GRPO group) from 16 clients. */
async function httpLoad(list: Candidate[], executorOpts: ExecutorOptions, budget?: PredictionBudget | false): Promise<LoadResult> {
  const executor = new SqlExecutor({ timeoutMs: 30_000, ...executorOpts });
  const server = await startRewardServer({ examples, reward: 'arctic', executor, port: 0, ...(budget !== undefined ? { budget } : {}) });
  const groups: Candidate[][] = [];
  for (let i = 0; i < list.length; i += 8) groups.push(list.slice(i, i + 8));
  const send = async (g: Candidate[]) => {
    const r = await fetch(`${server.url}/v1/rewards`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: g.map((it) => ({ completion: it.completion, example_id: it.example.id })) }) });
    return ((await r.json()) as { results: { status: string }[] }).results;
  };
  for (const g of groups.slice(0, 8)) await send(g); // boot the pool
  const memory = sampleGroupPeak(() => executor.workerPids());
  let stuckSum = 0;
  let stuckSamples = 0;
  const stuckTimer = setInterval(() => {
    stuckSum += executor.load().stuck;
    stuckSamples++;
  }, 50);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < groups.length) {
        const g = groups[next++]!;
        const ts = performance.now();
        for (const r of await send(g)) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        latencies.push(performance.now() - ts);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(stuckTimer);
  const { peakMiB } = memory.stop();
  const stats = { ...executor.stats };
  await server.close();
  await executor.close();
  return {
    rate: list.length / seconds,
    requestsPerS: groups.length / seconds,
    p50: pct(latencies, 50),
    p95: pct(latencies, 95),
    statuses,
    peakWorkers: stats.peakWorkers,
    peakStuck: stats.peakStuck,
    meanStuck: stuckSamples ? stuckSum / stuckSamples : 0,
    peakMiB,
    seconds,
  };
}

async function main() {
  const cores = availableParallelism();
  const lines: string[] = [`bench:rewards — Spider dev, ${examples.length} questions × 8 candidates = ${items.length} completions, preset arctic, ${cores} cores, load average at start ${loadavg()[0]!.toFixed(1)}`];
  const say = (l: string) => {
    lines.push(l);
    console.log(l);
  };
  say(lines[0]!);
  const t0 = performance.now();
  const naiveSum = naive(items);
  const naiveRate = items.length / ((performance.now() - t0) / 1000);
  say(`  naive baseline (fresh connection, serial)   ${naiveRate.toFixed(0).padStart(6)} rewards/s   (sum ${naiveSum.toFixed(1)})`);

  const executor = new SqlExecutor({ timeoutMs: 30_000 });
  const scorer = new RewardScorer(executor, 'arctic');
  await scorer.score(items.slice(0, 64)); // boot the pool
  const t1 = performance.now();
  const res = await scorer.score(items);
  const inRate = items.length / ((performance.now() - t1) / 1000);
  const sum = res.reduce((s, r) => s + r.reward, 0);
  say(`  sqlrl in-process (pool + gold cache)       ${inRate.toFixed(0).padStart(6)} rewards/s   (sum ${sum.toFixed(1)})   ${(inRate / naiveRate).toFixed(2)}x`);
  await executor.close();

  say('');
  say('  runaways over HTTP (8 per request, 16 clients, timeout 30 s, a fresh server each; budget max(1 s, 10 × gold time)):');
  say('  runaways          rewards/s  vs 0%   req/s   p50 ms   p95 ms  timeouts  peak workers  stuck peak/mean  peak MiB (server+workers)   wall s');
  const row = (label: string, r: LoadResult, base: number) =>
    say(
      `  ${label.padEnd(16)} ${r.rate.toFixed(0).padStart(9)}  ${((100 * r.rate) / base).toFixed(0).padStart(4)}%  ${r.requestsPerS.toFixed(0).padStart(6)}  ${r.p50.toFixed(0).padStart(7)}  ${r.p95.toFixed(0).padStart(7)}  ${String(r.statuses.timeout ?? 0).padStart(8)}  ${String(r.peakWorkers).padStart(12)}  ${`${r.peakStuck} / ${r.meanStuck.toFixed(1)}`.padStart(15)}  ${r.peakMiB.toFixed(0).padStart(25)}  ${r.seconds.toFixed(1).padStart(7)}`,
    );
  const runs: [string, number][] = [
    ['0%', 0],
    ['0.2%', 500],
    ['2%', 50],
  ];
  const results: Record<string, LoadResult> = {};
  for (const [label, every] of runs) {
    results[label] = await httpLoad(withRunaways(every), {});
    row(`${label} (${withRunaways(every).filter((it) => it.completion.includes('RECURSIVE c(x)')).length})`, results[label]!, results['0%']!.rate);
  }
  say(`  (0% over HTTP: ${(results['0%']!.rate / naiveRate).toFixed(2)}x the naive baseline)`);
  const before = await httpLoad(withRunaways(500), { maxWorkers: cores + 32 }, false);
  row('0.2%, as before', before, results['0%']!.rate);
  say('  ("as before": no prediction budget, worker ceiling workers + 32; runaways run to the 30 s timeout)');
  const ratio = results['0.2%']!.rate / results['0%']!.rate;
  say(`  acceptance (issue 16): 0.2% runaways keep ${(100 * ratio).toFixed(0)}% of the no-runaway throughput (needs >= 50%): ${ratio >= 0.5 ? 'PASS' : 'FAIL'}`);
  writeFileSync(join(OUT, 'rewards.txt'), lines.join('\n') + '\n');
}

await main();
