// One sandbox worker process: runs single read-only SQL statements on SQLite files, one at a time.
// The parent (executor.ts) kills this process when a query runs past its timeout, so nothing here
// needs to be interruptible; it only needs to refuse anything but a plain read and to cap result size.

import Database from 'better-sqlite3';
import type { ExecResult, SqlValue } from './types.js';

export interface WorkerRequest {
  id: number;
  op: 'query' | 'prepare';
  dbPath: string;
  sql: string;
  maxRows: number;
  maxBytes: number;
}

export interface WorkerResponse {
  id: number;
  result: ExecResult;
}

const MAX_OPEN = 16;
const open = new Map<string, Database.Database>();

function connection(dbPath: string): Database.Database {
  let db = open.get(dbPath);
  if (db) {
    open.delete(dbPath);
    open.set(dbPath, db); // most recently used last
    return db;
  }
  db = new Database(dbPath, { readonly: true, fileMustExist: true });
  db.pragma('query_only = ON');
  open.set(dbPath, db);
  if (open.size > MAX_OPEN) {
    const [oldestPath, oldest] = open.entries().next().value as [string, Database.Database];
    open.delete(oldestPath);
    oldest.close();
  }
  return db;
}

/** Statements that change the connection rather than the file still get refused: the sandbox runs queries only. */
const REFUSED_LEADING = /^(attach|detach|pragma|vacuum|reindex|analyze|begin|commit|rollback|savepoint|release)\b/i;

function leadingKeyword(sql: string): string {
  // Skip whitespace and SQL comments before the first keyword.
  let s = sql;
  for (;;) {
    const t = s.replace(/^\s+/, '');
    if (t.startsWith('--')) {
      const nl = t.indexOf('\n');
      s = nl < 0 ? '' : t.slice(nl + 1);
    } else if (t.startsWith('/*')) {
      const end = t.indexOf('*/', 2);
      s = end < 0 ? '' : t.slice(end + 2);
    } else return t;
  }
}

function valueBytes(v: SqlValue): number {
  if (v === null) return 1;
  if (typeof v === 'string') return v.length * 2;
  if (v instanceof Uint8Array) return v.byteLength;
  return 8;
}

function prepare(db: Database.Database, sql: string): Database.Statement | string {
  if (REFUSED_LEADING.test(leadingKeyword(sql))) {
    return `refused: only read-only queries are allowed (got ${leadingKeyword(sql).split(/\s/)[0]?.toUpperCase()})`;
  }
  const stmt = db.prepare(sql);
  if (!stmt.readonly) return 'refused: the statement would modify the database';
  return stmt;
}

function run(req: WorkerRequest): ExecResult {
  const t0 = performance.now();
  const ms = () => performance.now() - t0;
  try {
    const db = connection(req.dbPath);
    const stmt = prepare(db, req.sql);
    if (typeof stmt === 'string') return { kind: 'error', message: stmt, ms: ms() };
    if (req.op === 'prepare') return { kind: 'rows', columns: [], rows: [], ms: ms() };
    if (!stmt.reader) return { kind: 'error', message: 'refused: the statement returns no rows (only queries are allowed)', ms: ms() };
    const columns = stmt.columns().map((c) => c.name);
    stmt.raw(true).safeIntegers(false);
    const rows: SqlValue[][] = [];
    let bytes = 0;
    for (const row of stmt.iterate() as IterableIterator<SqlValue[]>) {
      if (rows.length >= req.maxRows) return { kind: 'too_large', limit: 'rows', ms: ms() };
      for (const v of row) bytes += valueBytes(v);
      if (bytes > req.maxBytes) return { kind: 'too_large', limit: 'bytes', ms: ms() };
      rows.push(row);
    }
    return { kind: 'rows', columns, rows, ms: ms() };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { kind: 'error', message, ms: ms() };
  }
}

process.on('message', (req: WorkerRequest) => {
  const response: WorkerResponse = { id: req.id, result: run(req) };
  process.send?.(response);
});
process.on('disconnect', () => process.exit(0));
