// The SQL sandbox: a pool of worker processes running read-only SQLite queries with a hard timeout.
// better-sqlite3 cannot be interrupted from another thread, so a query past its timeout is ended by
// SIGKILL of its whole worker process, which is then replaced. Callers always get an ExecResult.

import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ExecOptions, ExecResult } from './types.js';
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
   * worker starts so other queries keep flowing (runaways burn their own CPU until their timeout).
   * Default 100 ms.
   */
  stallMs?: number;
  /** Hard ceiling on worker processes, stuck ones included; default workers + 32. */
  maxWorkers?: number;
}

/**
 * Niceness of a query presumed stuck. Moderate on purpose: at 10 a runaway gets about a tenth of the share
 * of a normal process, so fresh queries flow past it, yet a legitimately heavy query on a loaded machine
 * (a trainer at nice 0 on every core) still progresses; at 19 it would get ~1.5% and starve to its timeout.
 */
const STUCK_NICE = 10;
/** A query is niced only once it has run this long (and past stallMs). */
const NICE_AFTER_MS = 1000;

export const EXECUTOR_DEFAULTS = { timeoutMs: 30_000, maxRows: 100_000, maxBytes: 64 * 1024 * 1024, goldCacheSize: 4096, stallMs: 100 };

interface Job {
  req: WorkerRequest;
  timeoutMs: number;
  resolve: (r: ExecResult) => void;
}

interface Worker {
  child: ChildProcess;
  job?: Job;
  startedAt: number;
  timer?: NodeJS.Timeout;
  /** Fires NICE_AFTER_MS into a query: the query is presumed a runaway and niced. */
  niceTimer?: NodeJS.Timeout;
  /** Booted (sent its ready message): a query's clock starts only then, so process start-up never eats its timeout. */
  ready: boolean;
  /** Lowered to STUCK_NICE once its query has run NICE_AFTER_MS; restored (or the worker retired) when the query ends. */
  niced?: boolean;
}

function workerEntry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  // Running from source (tsx) the worker is a .ts file and the child needs the same loader flags.
  const ts = here.endsWith('.ts');
  const path = here.replace(/executor\.(ts|js)$/, ts ? 'executor-worker.ts' : 'executor-worker.js');
  if (!existsSync(path)) throw new Error(`sandbox worker script missing: ${path} (rebuild with npm run build)`);
  return { path, execArgv: ts ? process.execArgv : [] };
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
  private stallTimer: NodeJS.Timeout | undefined;
  private readonly workers: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly goldCache = new Map<string, Promise<ExecResult>>();
  private readonly goldCacheSize: number;
  private nextId = 1;
  private closed = false;
  /** Counters for logs, benchmarks and the reward server's /metrics. */
  readonly stats = { queries: 0, timeouts: 0, workerRestarts: 0, goldCacheHits: 0 };

  constructor(opts: ExecutorOptions = {}) {
    this.size = Math.max(1, opts.workers ?? availableParallelism());
    this.timeoutMs = opts.timeoutMs ?? EXECUTOR_DEFAULTS.timeoutMs;
    this.maxRows = opts.maxRows ?? EXECUTOR_DEFAULTS.maxRows;
    this.maxBytes = opts.maxBytes ?? EXECUTOR_DEFAULTS.maxBytes;
    this.goldCacheSize = opts.goldCacheSize ?? EXECUTOR_DEFAULTS.goldCacheSize;
    this.stallMs = opts.stallMs ?? EXECUTOR_DEFAULTS.stallMs;
    this.maxWorkers = Math.max(this.size, opts.maxWorkers ?? this.size + 32);
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
    // A timeout is a property of the moment (machine load), not of the query: don't cache it.
    void p.then((r) => {
      if (r.kind === 'timeout' && this.goldCache.get(key) === p) this.goldCache.delete(key);
    });
    return p;
  }

  /** SQLite accepts the statement (prepared, not run), and it is a read-only query. */
  async checkSyntax(dbPath: string, sql: string): Promise<{ ok: true } | { ok: false; message: string }> {
    const r = await this.submit('prepare', dbPath, sql, this.timeoutMs, false);
    if (r.kind === 'error') return { ok: false, message: r.message };
    if (r.kind === 'timeout') return { ok: false, message: 'timeout while preparing' };
    return { ok: true };
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
            w.job?.resolve({ kind: 'error', message: 'executor closed', ms: 0 });
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
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
      this.queue.push({ req, timeoutMs, resolve });
      this.dispatch();
    });
  }

  /** Workers allowed now: the core budget plus one for each query presumed stuck. */
  private capacity(): number {
    const now = performance.now();
    const stuck = this.workers.filter((w) => w.job && w.ready && now - w.startedAt > this.stallMs);
    return Math.min(this.maxWorkers, this.size + stuck.length);
  }

  private dispatch(): void {
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
    if (this.queue.length > 0 && !this.stallTimer && !this.closed) {
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
    w.child.kill('SIGKILL');
  }

  private assign(w: Worker, job: Job): void {
    w.job = job;
    w.child.send(job.req);
    if (w.ready) this.startClock(w);
  }

  private startClock(w: Worker): void {
    if (!w.job) return;
    w.startedAt = performance.now();
    w.timer = setTimeout(() => this.onTimeout(w), w.job.timeoutMs);
    w.niceTimer = setTimeout(() => this.nice(w), Math.max(this.stallMs, NICE_AFTER_MS));
  }

  /** The query on this worker ended (answer, timeout, death, close): its timers go with it. */
  private stopClock(w: Worker): void {
    clearTimeout(w.timer);
    clearTimeout(w.niceTimer);
    w.timer = undefined;
    w.niceTimer = undefined;
  }

  /**
   * A query still running after NICE_AFTER_MS is presumed a runaway and yields the CPU to the queries
   * still flowing (it dies at its timeout anyway). Later than the extra worker (stallMs), so that a
   * legitimately heavy query of a few hundred ms keeps its full share.
   */
  private nice(w: Worker): void {
    w.niceTimer = undefined;
    if (w.niced || w.child.pid === undefined) return;
    w.niced = true;
    try {
      setPriority(w.child.pid, STUCK_NICE);
    } catch {
      // not permitted on this platform: the runaway keeps its share until its timeout
    }
  }

  private spawn(): Worker {
    const entry = workerEntry();
    const child = fork(entry.path, [], {
      execArgv: entry.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const w: Worker = { child, startedAt: performance.now(), ready: false };
    child.on('message', (msg: WorkerResponse | { ready: true }) => {
      if ('ready' in msg) {
        w.ready = true;
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
    child.on('exit', (code, signal) => {
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1);
      this.stopClock(w);
      const job = w.job;
      w.job = undefined;
      if (job && !this.closed) {
        // Died on its own (out of memory, native crash): the query gets an error, the pool a new worker.
        job.resolve({ kind: 'error', message: `sandbox worker died (${signal ?? `exit ${code}`})`, ms: performance.now() - w.startedAt });
        this.stats.workerRestarts++;
      }
      if (!this.closed) this.dispatch();
    });
    this.workers.push(w);
    return w;
  }

  private onTimeout(w: Worker): void {
    const job = w.job;
    if (!job) return;
    this.stopClock(w);
    w.job = undefined;
    this.stats.timeouts++;
    this.stats.workerRestarts++;
    w.child.kill('SIGKILL');
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    job.resolve({ kind: 'timeout', ms: performance.now() - w.startedAt });
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
