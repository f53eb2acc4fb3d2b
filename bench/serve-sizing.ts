// `npm run bench:serve-sizing` — how many rewards per second a `sqlrl serve` process gives per worker
// process, to size --workers, replicas and --timeout for a training job (docs/deploy.md).
//
// The server runs as the real CLI in its own process (`sqlrl serve --workers W`), fresh for each W (cold
// gold cache, as at the start of a run); this process is the trainer side: 16 clients posting GRPO
// groups (8 completions of one Spider dev question per request, as TRL and verl's batch reward manager
// send them). Measured per W: wall-clock rewards/s, the CPU seconds the server's process tree spent
// (from /proc: the server plus its sandbox workers), so rewards per CPU-second, and request latency. The
// reference in the same run is W = 1. Then, at W = cores: one completion per request, one request at a
// time (verl calls compute_score once per completion), one request of 1024 completions (a TRL generation
// batch), and a batch of 64 with and without one runaway query.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSpider, missingDatabases } from '../src/data/datasets.js';

const ROOT = resolve(import.meta.dirname, '..');
const SPIDER = resolve(ROOT, '../shared/data/spider');
const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });
const CORES = availableParallelism();
const WORKERS = [1, 2, 3, 4];
const CLIENTS = 16;
const GROUP = 8;
const REPEAT = 2;

const all = loadSpider(SPIDER, 'dev');
const missing = new Set(missingDatabases(all).map((e) => e.index));
const examples = all.filter((e) => !missing.has(e.index));
const answer = (sql: string) => `<think>\nreasoning\n</think>\n<answer>\n\`\`\`sql\n${sql}\n\`\`\`\n</answer>`;

/** Eight completions per question, as a policy mid-training writes them: right, reformatted, wrong in several ways, not SQL. */
function group(gold: string): string[] {
  const sql = gold.replace(/;\s*$/, '');
  return [
    sql,
    sql.replace(/\s+/g, ' '),
    `${sql.replace(/\bLIMIT\s+\d+/i, '')} LIMIT 1`,
    /\bwhere\b/i.test(sql) ? sql.replace(/\bwhere\b/i, 'WHERE 1 = 0 AND') : `SELECT * FROM (${sql}) WHERE 1 = 0`,
    sql.replace(/^\s*select\s+(distinct\s+)?/i, (m) => `${m}1 AS k, `),
    sql.replace(/\bfrom\s+(\w+)/i, 'FROM $1_typo'),
    `SELECT count(*) FROM (${sql})`,
    'I do not know.',
  ].map(answer);
}

const requests = examples.map((e) => ({ items: group(e.goldSql).map((completion) => ({ completion, example_id: e.id })) }));
const TOTAL = requests.length * GROUP;

/** CPU seconds (user + system) of a process and all its descendants, from /proc. */
function treeCpuSeconds(pid: number): number {
  const tick = 100; // USER_HZ on Linux
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / tick });
    } catch {
      // the process ended while we read
    }
  }
  let total = 0;
  const queue = [pid];
  while (queue.length) {
    const p = queue.pop()!;
    total += stats.get(p)?.cpu ?? 0;
    for (const [child, s] of stats) if (s.ppid === p) queue.push(child);
  }
  return total;
}

async function startServe(workers: number, timeout = 10): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/sqlrl-cli.ts'), 'serve', '--dataset', 'spider', '--data-dir', SPIDER, '--split', 'dev', '--reward', 'arctic', '--port', '0', '--workers', String(workers), '--timeout', String(timeout)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((ok, fail) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /sqlrl serve: (http:\/\/\S+)/.exec(err);
      if (m) ok(m[1]!);
    });
    proc.on('exit', (code) => fail(new Error(`sqlrl serve exited ${code}: ${err}`)));
  });
  return { url, proc };
}

async function stop(proc: ChildProcess): Promise<void> {
  await new Promise<void>((ok) => {
    proc.once('exit', () => ok());
    proc.kill('SIGTERM');
  });
}

async function post(url: string, body: unknown): Promise<number> {
  const r = await fetch(`${url}/v1/rewards`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { results: unknown[] }).results.length;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

interface Run {
  workers: number;
  rate: number;
  /** CPU seconds of the server's process tree, and of its HTTP process alone. */
  cpu: number;
  mainCpu: number;
  perCpuSecond: number;
  p50: number;
  p95: number;
}

/** CPU seconds (user + system) of one process, from /proc. */
function ownCpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function throughput(workers: number): Promise<Run> {
  const { url, proc } = await startServe(workers);
  try {
    await post(url, requests[0]); // connections and workers up
    const cpu0 = treeCpuSeconds(proc.pid!);
    const main0 = ownCpuSeconds(proc.pid!);
    const t0 = performance.now();
    const lat: number[] = [];
    let next = 0;
    let scored = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < requests.length) {
          const req = requests[next++]!;
          const t = performance.now();
          const n = await post(url, req); // not `scored += await ...`: that reads `scored` before awaiting
          scored += n;
          lat.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = treeCpuSeconds(proc.pid!) - cpu0;
    const mainCpu = ownCpuSeconds(proc.pid!) - main0;
    if (scored !== TOTAL) throw new Error(`scored ${scored} of ${TOTAL}`);
    return { workers, rate: TOTAL / seconds, cpu, mainCpu, perCpuSecond: TOTAL / cpu, p50: pct(lat, 50), p95: pct(lat, 95) };
  } finally {
    await stop(proc);
  }
}

async function main() {
  const lines = [
    `bench:serve-sizing — sqlrl serve (arctic preset) on Spider dev: ${examples.length} questions x ${GROUP} completions = ${TOTAL} per run, ${CLIENTS} clients, ${GROUP} completions per request; ${CORES} cores (shared machine: wall rates are noisy, CPU-second rates less so)`,
    '',
    `best of ${REPEAT} runs per W (other tenants only slow a run down)`,
    `workers  rewards/s  vs W=1  server CPU s (HTTP process)  rewards per CPU-s  request p50 / p95 ms`,
  ];
  const runs: Run[] = [];
  for (const w of WORKERS) {
    let r: Run | null = null;
    for (let i = 0; i < REPEAT; i++) {
      const x = await throughput(w);
      if (!r || x.rate > r.rate) r = x;
    }
    runs.push(r!);
    const base = runs[0]!;
    lines.push(`${String(w).padStart(7)}  ${r!.rate.toFixed(0).padStart(9)}  ${(r!.rate / base.rate).toFixed(2).padStart(5)}x  ${r!.cpu.toFixed(1).padStart(12)} (${r!.mainCpu.toFixed(1)})  ${r!.perCpuSecond.toFixed(0).padStart(17)}  ${r!.p50.toFixed(0).padStart(8)} / ${r!.p95.toFixed(0)}`);
    console.log(lines.at(-1));
  }

  // Request shapes at W = cores, --timeout 2.
  const { url, proc } = await startServe(CORES, 2);
  let serial: { rate: number; p50: number; p95: number };
  let big: { seconds: number; n: number };
  let runaway: { seconds: number; clean: number };
  try {
    await post(url, requests[0]);
    const singles = requests.slice(0, 100).flatMap((r) => r.items).map((it) => ({ items: [it] }));
    const lat: number[] = [];
    const t0 = performance.now();
    for (const req of singles) {
      const t = performance.now();
      await post(url, req);
      lat.push(performance.now() - t);
    }
    serial = { rate: singles.length / ((performance.now() - t0) / 1000), p50: pct(lat, 50), p95: pct(lat, 95) };
    const batch = { items: requests.slice(200, 328).flatMap((r) => r.items) };
    const t1 = performance.now();
    const n = await post(url, batch);
    big = { seconds: (performance.now() - t1) / 1000, n };
    // One runaway query among 64 completions: the batch waits for the sandbox to kill it at --timeout.
    const RUNAWAY = answer('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c');
    const items = requests.slice(400, 408).flatMap((r) => r.items);
    const t2 = performance.now();
    await post(url, { items });
    const clean = (performance.now() - t2) / 1000;
    const t3 = performance.now();
    await post(url, { items: items.map((it, i) => (i === 5 ? { ...it, completion: RUNAWAY } : it)) });
    runaway = { seconds: (performance.now() - t3) / 1000, clean };
  } finally {
    await stop(proc);
  }
  const best = runs.reduce((a, b) => (b.rate > a.rate ? b : a));
  const one = runs.find((r) => r.workers === 1)!;
  const perCpu = [...runs.map((r) => r.perCpuSecond)].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
  const mainShare = runs.reduce((s, r) => s + r.mainCpu, 0) / runs.reduce((s, r) => s + r.cpu, 0);
  const mainCeiling = TOTAL / (runs.reduce((s, r) => s + r.mainCpu, 0) / runs.length);
  lines.push(
    '',
    `W = ${CORES}, one completion per request, one client at a time (verl calls compute_score per completion; its reward workers run several at once): ${serial.rate.toFixed(0)} rewards/s, p50 ${serial.p50.toFixed(1)} ms, p95 ${serial.p95.toFixed(1)} ms`,
    `W = ${CORES}, one request of ${big.n} completions (a TRL generation batch): ${big.seconds.toFixed(2)} s (${(big.n / big.seconds).toFixed(0)} rewards/s)`,
    `W = ${CORES}, --timeout 2, 64 completions: ${runaway.clean.toFixed(2)} s; the same with one runaway query: ${runaway.seconds.toFixed(2)} s (a batch waits for its slowest query, which --timeout bounds)`,
    '',
    'sizing (docs/deploy.md):',
    `  one worker: ${one.rate.toFixed(0)} rewards/s; fastest here: W = ${best.workers}, ${best.rate.toFixed(0)} rewards/s (${(best.rate / one.rate).toFixed(2)}x) on ${CORES} cores`,
    `  CPU cost: one CPU-second per ${perCpu.toFixed(0)} rewards (median over W, server tree); the HTTP process takes ${(100 * mainShare).toFixed(0)}% of it,`,
    `  so one replica's HTTP process saturates one core near ${mainCeiling.toFixed(0)} rewards/s whatever --workers is, its workers then keeping about ${((1 - mainShare) / mainShare).toFixed(1)} more cores busy: scale past that with replicas`,
    `  cores for a step = completions per step / (${perCpu.toFixed(0)} x seconds the step may spend on rewards)`,
    `  e.g. SQL-R1, 64 completions per step: ${(64 / perCpu).toFixed(2)} CPU-s; Arctic, 256 x 16 = 4096 per step: ${(4096 / perCpu).toFixed(1)} CPU-s (${Math.ceil(4096 / (perCpu * 2))} core(s) to finish in 2 s)`,
  );
  const text = lines.join('\n');
  console.log(lines.slice(lines.indexOf('') + WORKERS.length + 3).join('\n'));
  writeFileSync(join(OUT, 'serve-sizing.txt'), text + '\n');
  writeFileSync(join(OUT, 'serve-sizing.json'), JSON.stringify({ cores: CORES, total: TOTAL, runs, serial, big }, null, 1));
}

await main();
