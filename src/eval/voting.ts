// Self-consistency and pass@k: choosing one SQL among n sampled by voting on execution results
// (as SQL-R1 and OmniSQL do), and the unbiased pass@k estimator.
import type { ExecResult, SqlValue } from '../sql/types.js';

export interface VoteCandidate {
  sql: string | null;
  result: ExecResult | null;
}

export interface VoteOutcome {
  /** Index of the chosen candidate (the first member of the winning cluster). */
  index: number;
  /** Size of the winning cluster (0 when no candidate executed). */
  votes: number;
  /** Number of distinct result clusters among executable candidates. */
  clusters: number;
}

function valueKey(v: SqlValue): string {
  if (v === null) return 'n';
  if (typeof v === 'number' || typeof v === 'bigint') return `#${Number(v)}`; // 1 and 1.0 vote together, as Python's equality does
  if (typeof v === 'string') return `s${JSON.stringify(v)}`;
  return `b${Buffer.from(v).toString('hex')}`;
}

/**
 * The key under which results vote together: OmniSQL groups by `frozenset(rows)` (set of rows,
 * order and duplicates ignored, column order kept).
 */
export function resultSetKey(rows: SqlValue[][]): string {
  const keys = new Set(rows.map((r) => r.map(valueKey).join('|')));
  return [...keys].sort().join('\n');
}

/**
 * Majority vote over execution results: candidates that executed are clustered by their result
 * set; the largest cluster wins, ties go to the cluster seen first. When none executed, the
 * first candidate with SQL is chosen (0 votes).
 */
export function majorityVote(candidates: VoteCandidate[]): VoteOutcome {
  const clusters = new Map<string, { first: number; votes: number }>();
  candidates.forEach((c, i) => {
    if (!c.sql || c.result?.kind !== 'rows') return;
    const key = resultSetKey(c.result.rows);
    const cl = clusters.get(key);
    if (cl) cl.votes++;
    else clusters.set(key, { first: i, votes: 1 });
  });
  let best: { first: number; votes: number } | null = null;
  for (const cl of clusters.values()) if (!best || cl.votes > best.votes) best = cl;
  if (best) return { index: best.first, votes: best.votes, clusters: clusters.size };
  const withSql = candidates.findIndex((c) => c.sql);
  return { index: withSql >= 0 ? withSql : 0, votes: 0, clusters: 0 };
}

/** Unbiased pass@k of one problem with `n` samples of which `c` are correct (Chen et al., 2021). */
export function passAtK(n: number, c: number, k: number): number {
  if (k > n) throw new RangeError(`pass@${k} needs at least ${k} samples, got ${n}`);
  if (n - c < k) return 1;
  let fail = 1;
  for (let i = n - c + 1; i <= n; i++) fail *= 1 - k / i;
  return 1 - fail;
}
