// Execution accuracy of a list of predictions over a dataset: runs each (prediction, gold) pair in
// the sandbox, judges it under a compare mode, and builds the report `sqlrl eval --report` writes
// (shape fixed by issue 2; docs/run-format.md). Generators (files, endpoints, native models) all end here.
import type { Example } from '../data/types.js';
import { spiderHardness } from '../data/hardness.js';
import type { CompareMode } from '../sql/compare.js';
import type { SqlExecutor } from '../sql/executor.js';
import { executionMatch } from '../sql/match.js';
import type { ExecResult, SqlValue } from '../sql/types.js';
import { mapConcurrent } from './concurrency.js';
import type { BucketAcc, EvalReportJson, ReportExample } from './html-report.js';

/** `refused`: the sandbox refused the prediction (a write, ATTACH, PRAGMA, ...), as opposed to invalid SQL (`error`); `infra_error`: the sandbox failed. */
export type ExampleStatus = 'match' | 'mismatch' | 'error' | 'refused' | 'timeout' | 'too_large' | 'db_missing' | 'infra_error' | 'no_sql';

export interface EvaluatedExample extends ReportExample {
  index: number;
  id: string;
  db_id: string;
  hardness: string;
  status: ExampleStatus;
  gold: string;
  pred: string | null;
  ms: number;
}

export interface EvalReport extends EvalReportJson {
  summary: EvalReportJson['summary'] & {
    mode: CompareMode;
    by_hardness: Record<string, BucketAcc>;
    by_db: Record<string, BucketAcc>;
    skipped: { db_missing: number };
    errors: Record<string, number>;
  };
  examples: EvaluatedExample[];
}

export interface EvaluateOptions {
  examples: Example[];
  /** One prediction per example, in the same order; null = the model produced no SQL. */
  predictions: (string | null)[];
  executor: SqlExecutor;
  mode: CompareMode;
  /** Leave examples whose database file is missing out of the accuracy (else they count as wrong). */
  skipMissingDb?: boolean;
  /** Paths known to be missing (from missingDatabases). */
  missingDbPaths?: Set<string>;
  timeoutMs?: number;
  previewRows?: number;
  onProgress?: (done: number, correct: number) => void;
}

const HARDNESS_ORDER = ['easy', 'medium', 'hard', 'extra'];

export function hardnessOf(example: Example): string {
  if (example.difficulty) return example.difficulty;
  try {
    return spiderHardness(example.goldSql);
  } catch {
    return 'unknown';
  }
}

function preview(r: ExecResult, n: number): SqlValue[][] | null {
  if (r.kind !== 'rows') return null;
  return r.rows.slice(0, n).map((row) => row.map((v) => (v instanceof Uint8Array ? `x'${Buffer.from(v).toString('hex')}'` : typeof v === 'bigint' ? (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString()) : v)));
}

function errorText(r: ExecResult): string | null {
  if (r.kind === 'error') return r.message;
  if (r.kind === 'timeout') return `timed out after ${Math.round(r.ms)} ms`;
  if (r.kind === 'too_large') return `result over the ${r.limit} cap`;
  if (r.kind === 'infra_error' || r.kind === 'db_missing') return r.message;
  return null;
}

export async function evaluatePredictions(opts: EvaluateOptions): Promise<EvalReport> {
  const { examples, predictions } = opts;
  if (predictions.length !== examples.length) {
    throw new Error(`${predictions.length} predictions for ${examples.length} examples (one prediction per example, in dataset order)`);
  }
  const previewRows = opts.previewRows ?? 5;
  let done = 0;
  let correct = 0;
  const evaluated = await mapConcurrent(examples, 64, async (ex, i): Promise<EvaluatedExample> => {
    const pred = predictions[i] ?? null;
    const base = { index: ex.index, id: ex.id, db_id: ex.dbId, hardness: hardnessOf(ex), question: ex.question, gold: ex.goldSql, pred };
    let row: EvaluatedExample;
    if (opts.missingDbPaths?.has(ex.dbPath)) {
      row = { ...base, status: 'db_missing', ms: 0, error: `database file not found: ${ex.dbPath}` };
    } else if (pred === null || !pred.trim()) {
      row = { ...base, status: 'no_sql', ms: 0, error: 'no SQL in the output' };
    } else {
      const m = await executionMatch(opts.executor, { dbPath: ex.dbPath, goldSql: ex.goldSql, predSql: pred, mode: opts.mode, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
      const status: ExampleStatus = m.verdict === 'gold_error' ? 'error' : m.verdict;
      const error = m.verdict === 'gold_error' ? `gold query failed: ${errorText(m.gold)}` : errorText(m.pred);
      row = { ...base, status, ms: Math.round(m.pred.ms * 100) / 100, error, pred_preview: preview(m.pred, previewRows), gold_preview: preview(m.gold, previewRows) };
    }
    done++;
    if (row.status === 'match') correct++;
    opts.onProgress?.(done, correct);
    return row;
  });
  return { summary: summarize(evaluated, opts.mode, opts.skipMissingDb ?? false), examples: evaluated };
}

function bucketAcc(rows: EvaluatedExample[], key: (e: EvaluatedExample) => string, order?: string[]): Record<string, BucketAcc> {
  const acc = new Map<string, { n: number; c: number }>();
  for (const e of rows) {
    const k = key(e);
    const a = acc.get(k) ?? { n: 0, c: 0 };
    a.n++;
    if (e.status === 'match') a.c++;
    acc.set(k, a);
  }
  const keys = [...acc.keys()].sort((x, y) => {
    const ix = order?.indexOf(x) ?? -1;
    const iy = order?.indexOf(y) ?? -1;
    if (ix >= 0 || iy >= 0) return (ix < 0 ? 99 : ix) - (iy < 0 ? 99 : iy);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return Object.fromEntries(keys.map((k) => [k, { n: acc.get(k)!.n, execution_accuracy: acc.get(k)!.c / acc.get(k)!.n }]));
}

export function summarize(examples: EvaluatedExample[], mode: CompareMode, skipMissingDb: boolean): EvalReport['summary'] {
  const counted = skipMissingDb ? examples.filter((e) => e.status !== 'db_missing') : examples;
  const correct = counted.filter((e) => e.status === 'match').length;
  const errors: Record<string, number> = {};
  for (const e of counted) if (e.status !== 'match') errors[e.status] = (errors[e.status] ?? 0) + 1;
  return {
    total: examples.length,
    evaluated: counted.length,
    execution_accuracy: counted.length ? correct / counted.length : 0,
    mode,
    by_hardness: bucketAcc(counted, (e) => e.hardness, HARDNESS_ORDER.concat(['simple', 'moderate', 'challenging'])),
    by_db: bucketAcc(counted, (e) => e.db_id),
    skipped: { db_missing: skipMissingDb ? examples.length - counted.length : 0 },
    errors,
  };
}
