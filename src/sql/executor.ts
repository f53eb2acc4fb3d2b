// The SQL sandbox: a pool of worker processes running read-only SQLite queries with a hard timeout.
// better-sqlite3 cannot be interrupted from another thread, so a query past its timeout is ended by
// SIGKILL of its whole worker process, which is then replaced. Callers always get an ExecResult.

import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { availableParallelism, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isInfraFailure, type ExecOptions, type ExecResult } from './types.js';
import type { WorkerRequest, WorkerResponse } from './executor-worker.js';

export interface ExecutorOptions {
  /** Worker processes; default one per core. */
  workers?: number;
  /** Per-query timeout in ms; default 30 000. */
  timeoutMs?: number;
  /** Row cap; default 100 000. */
  maxRows?: number;
  /** Result size cap in bytes (strings counted as UTF-16); default 64 MiB. */
  maxBytes?: number;
  /** Gold-result cache entries; default 4096. */
  goldCacheSize?: number;
  /**
   * A query running longer than this is presumed stuck and stops counting against `workers`: an extra
   * worker starts so other queries keep flowing (runaways burn their own, niced, CPU until their timeout).
   * Default 100 ms.
   */
  stallMs?: number;
  /**
   * Hard ceiling on worker processes, stuck ones included; default workers + max(4, workers). Past it,
   * further queries wait for a worker instead of spawning one each (a stuck worker holds ~50 MB).
   */
  maxWorkers?: number;
  /** A worker that has not booted after this many ms is presumed dead (replaced, its query retried); default 20 000. */
  bootTimeoutMs?: number;
}

/**
 * Niceness of a query presumed stuck. Moderate on purpose: at 10 a runaway gets about a tenth of the share
 * of a normal process, so fresh queries flow past it, yet a legitimately heavy query on a loaded machine
 * (a trainer at nice 0 on every core) still progresses; at 19 it would get ~1.5% and starve to its timeout.
 */
const STUCK_NICE = 10;
/**
 * A query is niced once it has run this long (and past stallMs), or a tenth of its timeout if that is shorter:
 * under a prediction budget (10 × the gold's time, at least 1 s) a query past a tenth of it is already slower
 * than its gold, and a runaway should stop competing for the cores early.
 */
const NICE_AFTER_MS = 1000;

export const EXECUTOR_DEFAULTS = { timeoutMs: 30_000, maxRows: 100_000, maxBytes: 64 * 1024 * 1024, goldCacheSize: 4096, stallMs: 100, bootTimeoutMs: 20_000 };

interface Job {
  req: WorkerRequest;
  timeoutMs: number;
  resolve: (r: ExecResult) => void;
  /** Workers that died (or stopped responding) while holding this query: one retry, then infra_error. */
  failures: number;
}

interface Worker {
  child: ChildProcess;
  job?: Job;
  startedAt: number;
  timer?: NodeJS.Timeout;
  /** Fires when a query is presumed a runaway: it gets niced. */
  niceTimer?: NodeJS.Timeout;
  /** Fires when a started worker has not said it is ready. */
  bootTimer?: NodeJS.Timeout;
  /** Booted (sent its ready message): a query's clock starts only then, so process start-up never eats its timeout. */
  ready: boolean;
  /** Lowered to STUCK_NICE once its query ran past the nice delay; restored (or the worker retired) when the query ends. */
  niced?: boolean;
  /** CPU ticks of the worker and the time when its query was niced: at the timeout they tell a runaway (burning CPU) from a worker that stopped. */
  cpuAtNice?: { ticks: number; at: number };
  /** Gone (exited, killed, or failed to spawn): every later event of this worker is ignored. */
  gone?: boolean;
}

/** User + system CPU clock ticks of a process, from /proc (Linux); null where there is no /proc. */
function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised command name (which may hold spaces): state is 3rd, utime 14th, stime 15th.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

function workerEntry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) {
    const path = here.replace(/executor\.js$/, 'executor-worker.js');
    if (!existsSync(path)) throw new Error(`sandbox worker script missing: ${path} (rebuild with npm run build)`);
    return { path, execArgv: [] };
  }
  // Running from source (tsx: tests, benchmarks): a worker started with tsx's loader boots 3-4 times slower
  // than plain JS, which every runaway's replacement pays. Compile the worker once to plain JS instead;
  // if that is not possible, start it with the same loader flags.
  const source = here.replace(/executor\.ts$/, 'executor-worker.ts');
  return compiledWorker(source) ?? { path: source, execArgv: process.execArgv };
}

let compiled: { path: string; execArgv: string[] } | null | undefined;

/**
 * executor-worker.ts bundled to plain JS in node_modules/.cache/sqlrl (so packages resolve from the
 * project's node_modules), named by a hash of the bundle; null when esbuild (a development dependency,
 * through tsx) is absent or the folder is not writable.
 */
function compiledWorker(source: string): { path: string; execArgv: string[] } | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  try {
    const root = resolve(dirname(source), '../..');
    const require = createRequire(import.meta.url);
    type Build = (o: Record<string, unknown>) => { outputFiles: { contents: Uint8Array }[] };
    const esbuild = require('esbuild') as { buildSync: Build };
    const out = esbuild.buildSync({ entryPoints: [source], bundle: true, packages: 'external', platform: 'node', format: 'esm', write: false, logLevel: 'silent' }).outputFiles[0]!.contents;
    const dir = join(root, 'node_modules', '.cache', 'sqlrl');
    const path = join(dir, `executor-worker-${createHash('sha256').update(out).digest('hex').slice(0, 16)}.mjs`);
    if (!existsSync(path)) {
      mkdirSync(dir, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, out);
      renameSync(tmp, path);
    }
    compiled = { path, execArgv: [] };
  } catch {
    // no esbuild, or a read-only tree: the tsx loader path still works
  }
  return compiled;
}

/**
 * Collapses whitespace and case outside string literals and drops a trailing ';', so trivially
 * different spellings of the same gold query share one cache entry.
 */
export function normalizeSqlKey(sql: string): string {
  let out = '';
  let i = 0;
  const s = sql.trim().replace(/(\s*;)+$/, '');
  while (i < s.length) {
    const c = s[i]!;
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < s.length) {
        if (s[j] === c) {
          if (s[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      out += s.slice(i, j + 1);
      i = j + 1;
    } else if (/\s/.test(c)) {
      while (i < s.length && /\s/.test(s[i]!)) i++;
      out += ' ';
    } else {
      out += c.toLowerCase();
      i++;
    }
  }
  return out;
}

export class SqlExecutor {
  readonly timeoutMs: number;
  readonly maxRows: number;
  readonly maxBytes: number;
  private readonly size: number;
  private readonly maxWorkers: number;
  private readonly stallMs: number;
  private readonly bootTimeoutMs: number;
  private stallTimer: NodeJS.Timeout | undefined;
  private readonly workers: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly goldCache = new Map<string, Promise<ExecResult>>();
  private readonly goldCacheSize: number;
  private nextId = 1;
  private closed = false;
  /**
   * Counters for logs, benchmarks and the reward server's /metrics. `workerDeaths`: workers that died or
   * stopped responding holding a query; `retries`: queries run again after that; `infraErrors`: queries
   * answered infra_error (their retry failed too); `peakWorkers`/`peakStuck`: most worker processes, and
   * most presumed stuck, alive at once.
   */
  readonly stats = { queries: 0, timeouts: 0, workerRestarts: 0, goldCacheHits: 0, workerDeaths: 0, retries: 0, infraErrors: 0, peakWorkers: 0, peakStuck: 0 };

  constructor(opts: ExecutorOptions = {}) {
    this.size = Math.max(1, opts.workers ?? availableParallelism());
    this.timeoutMs = opts.timeoutMs ?? EXECUTOR_DEFAULTS.timeoutMs;
    this.maxRows = opts.maxRows ?? EXECUTOR_DEFAULTS.maxRows;
    this.maxBytes = opts.maxBytes ?? EXECUTOR_DEFAULTS.maxBytes;
    this.goldCacheSize = opts.goldCacheSize ?? EXECUTOR_DEFAULTS.goldCacheSize;
    this.stallMs = opts.stallMs ?? EXECUTOR_DEFAULTS.stallMs;
    this.bootTimeoutMs = opts.bootTimeoutMs ?? EXECUTOR_DEFAULTS.bootTimeoutMs;
    this.maxWorkers = Math.max(this.size, opts.maxWorkers ?? this.size + Math.max(4, this.size));
  }

  /** Runs one statement read-only on `dbPath`. Never throws for bad SQL; see ExecResult. */
  execute(dbPath: string, sql: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.submit('query', dbPath, sql, opts.timeoutMs ?? this.timeoutMs, opts.exactIntegers ?? false);
  }

  /** Like execute, but cached by (db, normalized SQL): gold queries are scored many times. */
  executeGold(dbPath: string, sql: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const key = `${dbPath}\u0000${opts.exactIntegers ? 'x' : ''}\u0000${normalizeSqlKey(sql)}`;
    const hit = this.goldCache.get(key);
    if (hit) {
      this.stats.goldCacheHits++;
      this.goldCache.delete(key);
      this.goldCache.set(key, hit);
      return hit;
    }
    const p = this.execute(dbPath, sql, opts);
    this.goldCache.set(key, p);
    if (this.goldCache.size > this.goldCacheSize) this.goldCache.delete(this.goldCache.keys().next().value as string);
    // A timeout is a property of the moment (machine load), not of the query, and a failed worker or a
    // missing file of the infrastructure: don't cache them.
    void p.then((r) => {
      if ((r.kind === 'timeout' || isInfraFailure(r)) && this.goldCache.get(key) === p) this.goldCache.delete(key);
    });
    return p;
  }

  /**
   * SQLite accepts the statement (prepared, not run), and it is a read-only query. `infra` is set when
   * the sandbox could not tell (worker failure, database missing): that says nothing about the SQL.
   */
  async checkSyntax(dbPath: string, sql: string): Promise<{ ok: true } | { ok: false; message: string; infra?: 'infra_error' | 'db_missing' }> {
    const r = await this.submit('prepare', dbPath, sql, this.timeoutMs, false);
    if (r.kind === 'error') return { ok: false, message: r.message };
    if (r.kind === 'timeout') return { ok: false, message: 'timeout while preparing' };
    if (isInfraFailure(r)) return { ok: false, message: r.message, infra: r.kind };
    return { ok: true };
  }

  /** Process ids of the live workers (diagnostics and tests). */
  workerPids(): number[] {
    return this.workers.flatMap((w) => (w.child.pid !== undefined ? [w.child.pid] : []));
  }

  /** Workers alive, busy, presumed stuck (past stallMs), and queries waiting: for /metrics and benchmarks. */
  load(): { workers: number; busy: number; stuck: number; queued: number } {
    const now = performance.now();
    const busy = this.workers.filter((w) => w.job);
    return { workers: this.workers.length, busy: busy.length, stuck: busy.filter((w) => w.ready && now - w.startedAt > this.stallMs).length, queued: this.queue.length };
  }

  /** Kills every worker; pending and later calls resolve to an error result. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    for (const job of this.queue.splice(0)) job.resolve({ kind: 'error', message: 'executor closed', ms: 0 });
    await Promise.all(
      this.workers.splice(0).map(
        (w) =>
          new Promise<void>((resolve) => {
            this.stopClock(w);
            clearTimeout(w.bootTimer);
            w.job?.resolve({ kind: 'error', message: 'executor closed', ms: 0 });
            w.job = undefined;
            if (w.gone || w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            w.child.once('exit', () => resolve());
            w.child.ref(); // an idle worker is unref'd; keep the loop alive until it is gone
            w.child.kill('SIGKILL');
          }),
      ),
    );
  }

  private submit(op: WorkerRequest['op'], dbPath: string, sql: string, timeoutMs: number, exactIntegers: boolean): Promise<ExecResult> {
    if (this.closed) return Promise.resolve({ kind: 'error', message: 'executor closed', ms: 0 });
    this.stats.queries++;
    return new Promise<ExecResult>((resolve) => {
      const req: WorkerRequest = { id: this.nextId++, op, dbPath, sql, maxRows: this.maxRows, maxBytes: this.maxBytes, exactIntegers };
      this.queue.push({ req, timeoutMs, resolve, failures: 0 });
      this.dispatch();
    });
  }

  /** Workers allowed now: the core budget plus one for each query presumed stuck, up to maxWorkers. */
  private capacity(): number {
    const { stuck } = this.load();
    this.stats.peakStuck = Math.max(this.stats.peakStuck, stuck);
    return Math.min(this.maxWorkers, this.size + stuck);
  }

  private dispatch(): void {
    if (this.closed) return;
    while (this.queue.length > 0) {
      let w = this.workers.find((x) => !x.job);
      if (!w) {
        if (this.workers.length >= this.capacity()) break;
        w = this.spawn();
      }
      this.assign(w, this.queue.shift()!);
    }
    // Extra workers beyond the core budget leave once idle.
    for (const w of this.workers.filter((x) => !x.job).slice(0, Math.max(0, this.workers.length - this.size))) this.retire(w);
    if (this.queue.length > 0 && !this.stallTimer) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = undefined;
        this.dispatch();
      }, Math.max(10, this.stallMs / 4));
    }
    this.refWorkers();
  }

  /** A niced worker whose query ended gets its normal priority back; if the platform refuses, it is replaced. */
  private unnice(w: Worker): void {
    try {
      setPriority(w.child.pid!, 0);
      w.niced = false;
    } catch {
      this.retire(w);
    }
  }

  private retire(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    w.gone = true;
    clearTimeout(w.bootTimer);
    w.child.kill('SIGKILL');
  }

  private assign(w: Worker, job: Job): void {
    w.job = job;
    // A worker that died a moment ago fails the send (EPIPE, channel closed): its exit handler retries the
    // query; the callback keeps the failure from surfacing as an unhandled 'error' event.
    w.child.send(job.req, (err) => {
      if (err && !w.gone) w.child.kill('SIGKILL');
    });
    if (w.ready) this.startClock(w);
  }

  private startClock(w: Worker): void {
    if (!w.job) return;
    w.startedAt = performance.now();
    w.timer = setTimeout(() => this.onTimeout(w), w.job.timeoutMs);
    w.niceTimer = setTimeout(() => this.nice(w), Math.max(this.stallMs, Math.min(NICE_AFTER_MS, w.job.timeoutMs / 10)));
  }

  /** The query on this worker ended (answer, timeout, death, close): its timers go with it. */
  private stopClock(w: Worker): void {
    clearTimeout(w.timer);
    clearTimeout(w.niceTimer);
    w.timer = undefined;
    w.niceTimer = undefined;
    w.cpuAtNice = undefined;
  }

  /**
   * A query still running after the nice delay is presumed a runaway and yields the CPU to the queries
   * still flowing (it dies at its timeout anyway). Later than the extra worker (stallMs), so that a
   * legitimately heavy query of a few hundred ms keeps its full share.
   */
  private nice(w: Worker): void {
    w.niceTimer = undefined;
    if (w.niced || w.child.pid === undefined) return;
    const ticks = cpuTicks(w.child.pid);
    if (ticks !== null) w.cpuAtNice = { ticks, at: performance.now() };
    w.niced = true;
    try {
      setPriority(w.child.pid, STUCK_NICE);
    } catch {
      // not permitted on this platform: the runaway keeps its share until its timeout
    }
  }

  private spawn(): Worker {
    const entry = workerEntry();
    const child = fork(entry.path, [String(process.pid)], {
      execArgv: entry.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const w: Worker = { child, startedAt: performance.now(), ready: false };
    w.bootTimer = setTimeout(() => {
      // Never said it was ready: presumed hung at start-up; its exit handler retries the query elsewhere.
      if (!w.ready && !w.gone) child.kill('SIGKILL');
    }, this.bootTimeoutMs);
    w.bootTimer.unref();
    child.on('message', (msg: WorkerResponse | { ready: true }) => {
      if (w.gone) return;
      if ('ready' in msg) {
        w.ready = true;
        clearTimeout(w.bootTimer);
        this.startClock(w);
        return;
      }
      if (!w.job || msg.id !== w.job.req.id) return;
      const job = w.job;
      this.stopClock(w);
      w.job = undefined;
      job.resolve(msg.result);
      if (w.niced) this.unnice(w);
      this.dispatch();
    });
    child.on('exit', (code, signal) => this.onGone(w, signal ?? `exit ${code}`));
    // Spawning can fail outright (EAGAIN, EMFILE) with no 'exit' to follow.
    child.on('error', (err) => {
      if (child.pid === undefined) this.onGone(w, (err as NodeJS.ErrnoException).code ?? err.message);
    });
    this.workers.push(w);
    this.stats.peakWorkers = Math.max(this.stats.peakWorkers, this.workers.length);
    return w;
  }

  /** A worker is gone without being told to go (crash, kill -9, out of memory, hung): replace it, retry its query once. */
  private onGone(w: Worker, reason: string): void {
    if (w.gone) return;
    w.gone = true;
    clearTimeout(w.bootTimer);
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    this.stopClock(w);
    const job = w.job;
    w.job = undefined;
    if (job && !this.closed) {
      this.stats.workerRestarts++;
      this.failed(job, `sandbox worker died (${reason})`, performance.now() - w.startedAt);
    }
    this.dispatch();
  }

  /** A query whose worker failed: back to the head of the queue once, then answered infra_error. */
  private failed(job: Job, why: string, ms: number): void {
    this.stats.workerDeaths++;
    job.failures++;
    if (job.failures < 2) {
      this.stats.retries++;
      this.queue.unshift(job);
      return;
    }
    this.stats.infraErrors++;
    job.resolve({ kind: 'infra_error', message: `${why}; the query was retried once on a new worker and that failed too`, ms });
  }

  private onTimeout(w: Worker): void {
    const job = w.job;
    if (!job) return;
    // A runaway burns CPU until its timeout; a worker that used none since its query was niced did not run
    // the query at all (stopped, hung in the kernel): that is the infrastructure's failure, not the SQL's.
    const pid = w.child.pid;
    const ticks = pid !== undefined ? cpuTicks(pid) : null;
    const idle = w.cpuAtNice && ticks !== null && ticks === w.cpuAtNice.ticks && performance.now() - w.cpuAtNice.at >= 500;
    const ms = performance.now() - w.startedAt;
    this.stopClock(w);
    w.job = undefined;
    this.stats.workerRestarts++;
    this.retire(w);
    if (idle) this.failed(job, `sandbox worker stopped responding (no CPU used for ${Math.round(ms)} ms)`, ms);
    else {
      this.stats.timeouts++;
      job.resolve({ kind: 'timeout', ms });
    }
    this.dispatch();
  }

  /** Idle workers must not keep the caller's process alive; busy ones must. */
  private refWorkers(): void {
    for (const w of this.workers) {
      const busy = w.job !== undefined;
      const channel = w.child.channel as { ref(): void; unref(): void } | undefined | null;
      if (busy) {
        w.child.ref();
        channel?.ref();
      } else {
        w.child.unref();
        channel?.unref();
      }
    }
  }
}
