// The result of running one SQL statement in the sandbox: exactly one of these kinds, never an exception.
// The first four say something about the SQL; `infra_error` and `db_missing` say the sandbox could not
// judge it (a worker died, the database file is missing or unreadable), so a reward must not count them
// as wrong SQL.

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

/** The sandbox failed, not the SQL: its worker died (or never started) twice running this query. */
export interface InfraErrorResult {
  kind: 'infra_error';
  message: string;
  ms: number;
}
/** The database file does not exist or SQLite cannot open it as a database; the message names the file. */
export interface DbMissingResult {
  kind: 'db_missing';
  message: string;
  ms: number;
}

export type ExecResult = RowsResult | ErrorResult | TimeoutResult | TooLargeResult | InfraErrorResult | DbMissingResult;

/** Kinds that say nothing about the SQL (the infrastructure failed): never scored as a wrong answer. */
export type InfraKind = InfraErrorResult['kind'] | DbMissingResult['kind'];
export const isInfraFailure = (r: ExecResult): r is InfraErrorResult | DbMissingResult => r.kind === 'infra_error' || r.kind === 'db_missing';

export interface ExecOptions {
  /** Per-query timeout; the worker is killed past it. Default: the executor's. */
  timeoutMs?: number;
  /**
   * Return SQLite INTEGERs as bigint, so an integer (1) stays distinguishable from an integral REAL (1.0),
   * which the Spider evaluator's row ordering (str(x) + str(type(x))) depends on. Default false: numbers.
   */
  exactIntegers?: boolean;
}
