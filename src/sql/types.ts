// The result of running one SQL statement in the sandbox: exactly one of four kinds, never an exception.

/** A SQLite value as better-sqlite3 returns it (INTEGERs beyond 2^53 come back as bigint). */
export type SqlValue = number | bigint | string | Uint8Array | null;

export interface RowsResult {
  kind: 'rows';
  columns: string[];
  rows: SqlValue[][];
  ms: number;
}
export interface ErrorResult {
  kind: 'error';
  /** SQLite's message, or the sandbox's reason (write refused, multiple statements, ...). */
  message: string;
  ms: number;
  /** The sandbox refused the statement (a write, ATTACH, PRAGMA, ...): not invalid SQL, a forbidden one. */
  refused?: true;
}
export interface TimeoutResult {
  kind: 'timeout';
  ms: number;
}
export interface TooLargeResult {
  kind: 'too_large';
  /** Which cap was exceeded. */
  limit: 'rows' | 'bytes';
  ms: number;
}

export type ExecResult = RowsResult | ErrorResult | TimeoutResult | TooLargeResult;

export interface ExecOptions {
  /** Per-query timeout; the worker is killed past it. Default: the executor's. */
  timeoutMs?: number;
  /**
   * Return SQLite INTEGERs as bigint, so an integer (1) stays distinguishable from an integral REAL (1.0),
   * which the Spider evaluator's row ordering (str(x) + str(type(x))) depends on. Default false: numbers.
   */
  exactIntegers?: boolean;
}
