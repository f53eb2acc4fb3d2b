// `npm run bench:rewards` — rewards per second for GRPO-shaped batches on Spider dev (each question with 8
// candidates: gold, a duplicate, perturbed wrong ones, one erroring), in-process and over HTTP, next to a
// naive baseline in the same run (each candidate and its gold run fresh and serially, as the seeds do);
// then the same with runaway candidates mixed in (timeout 2 s).
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { loadSpider, missingDatabases } from '../src/data/datasets.js';
import { RewardScorer, type RewardItem } from '../src/reward/scorer.js';
import { startRewardServer } from '../src/serve/reward-server.js';
import { resultsEqual, orderMatters } from '../src/sql/compare.js';
import { SqlExecutor } from '../src/sql/executor.js';
import type { SqlValue } from '../src/sql/types.js';

const ROOT = resolve(import.meta.dirname, '..');
const SPIDER = resolve(ROOT, '../shared/data/spider');
const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });

const all = loadSpider(SPIDER, 'dev');
const missing = new Set(missingDatabases(all).map((e) => e.index));
const examples = all.filter((e) => !missing.has(e.index));
const fence = (sql: string) => `<think>...</think><answer>\`\`\`sql\n${sql}\n\`\`\`</answer>`;

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

const items: RewardItem[] = examples.flatMap((e) => candidates(e.goldSql).map((sql) => ({ completion: fence(sql), dbPath: e.dbPath, goldSql: e.goldSql })));

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

async function main() {
  const lines: string[] = [`bench:rewards — Spider dev, ${examples.length} questions × 8 candidates = ${items.length} completions, preset arctic, 2 cores`];
  const t0 = performance.now();
  const naiveSum = naive(items);
  const naiveRate = items.length / ((performance.now() - t0) / 1000);
  lines.push(`  naive baseline (fresh connection, serial)   ${naiveRate.toFixed(0).padStart(6)} rewards/s   (sum ${naiveSum.toFixed(1)})`);

  const executor = new SqlExecutor({ timeoutMs: 2000 });
  const scorer = new RewardScorer(executor, 'arctic');
  await scorer.score(items.slice(0, 64)); // boot the pool
  const t1 = performance.now();
  const res = await scorer.score(items);
  const inRate = items.length / ((performance.now() - t1) / 1000);
  const sum = res.reduce((s, r) => s + r.reward, 0);
  lines.push(`  sqlrl in-process (pool + gold cache)       ${inRate.toFixed(0).padStart(6)} rewards/s   (sum ${sum.toFixed(1)})   ${(inRate / naiveRate).toFixed(2)}x`);

  const server = await startRewardServer({ examples, reward: 'arctic', executor, port: 0 });
  const byGroup: RewardItem[][] = [];
  for (let i = 0; i < items.length; i += 8) byGroup.push(items.slice(i, i + 8));
  const t2 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < byGroup.length) {
        const g = byGroup[next++]!;
        const ex = examples[Math.floor(items.indexOf(g[0]!) / 8)]!;
        const r = await fetch(`${server.url}/v1/rewards`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: g.map((it) => ({ completion: it.completion, example_id: ex.id })) }) });
        await r.json();
      }
    }),
  );
  const httpRate = items.length / ((performance.now() - t2) / 1000);
  lines.push(`  sqlrl over HTTP (8 per request, 16 clients) ${httpRate.toFixed(0).padStart(6)} rewards/s   ${(httpRate / naiveRate).toFixed(2)}x`);
  await server.close();

  // Runaways mixed in: 6 candidates that never end, timeout 2 s; the rest must keep flowing.
  const RUNAWAY = fence('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c');
  const mixed = items.slice(0, 2000).map((it, i) => (i % 333 === 5 ? { ...it, completion: RUNAWAY } : it));
  const fresh = new SqlExecutor({ timeoutMs: 2000 });
  const s2 = new RewardScorer(fresh, 'arctic');
  await s2.score(items.slice(0, 16));
  const t3 = performance.now();
  let doneBefore2s = 0;
  const out = await Promise.all(
    mixed.map((it) =>
      s2.scoreOne(it).then((r) => {
        if (performance.now() - t3 < 1900) doneBefore2s++;
        return r;
      }),
    ),
  );
  const mixedS = (performance.now() - t3) / 1000;
  const timeouts = out.filter((r) => r.status === 'timeout').length;
  lines.push(`  with ${timeouts} runaways (timeout 2 s) in ${mixed.length}: ${mixedS.toFixed(2)} s total, ${(mixed.length / mixedS).toFixed(0)} rewards/s; ${doneBefore2s} of ${mixed.length - timeouts} others finished before the runaways timed out`);
  await fresh.close();
  await executor.close();
  console.log(lines.join('\n'));
  writeFileSync(join(OUT, 'rewards.txt'), lines.join('\n') + '\n');
}

await main();
