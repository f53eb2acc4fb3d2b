// One sandbox worker process: runs single read-only SQL statements on SQLite files, one at a time.
// The parent (executor.ts) kills this process when a query runs past its timeout, so nothing here
// needs to be interruptible; it only needs to refuse anything but a plain read and to cap result size.

import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import type { ExecResult, SqlValue } from './types.js';

export interface WorkerRequest {
  id: number;
  op: 'query' | 'prepare';
  dbPath: string;
  sql: string;
  maxRows: number;
  maxBytes: number;
  exactIntegers: boolean;
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
  try {
    db.pragma('query_only = ON');
    // SQLite opens lazily: reading the schema version makes a file that is not a database fail here, as
    // an unusable database, rather than later as if the query were wrong.
    db.pragma('schema_version', { simple: true });
  } catch (err) {
    db.close();
    throw err;
  }
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

const DQS_ERROR = /^no such column: "((?:[^"]|"")*)" - should this be a string literal in single-quotes\?$/;

/**
 * better-sqlite3 builds SQLite with double-quoted string literals off (SQLITE_DQS=0) and offers no
 * switch; Python's sqlite3, which the benchmarks' gold SQL was written against, has them on. SQLite's
 * own rule is "a double-quoted token that names no column is a string", and its error names that
 * token, so re-quoting exactly that token and preparing again gives the same meaning.
 */
function prepareWithDqs(db: Database.Database, sql: string): Database.Statement {
  for (let attempt = 0; ; attempt++) {
    try {
      return db.prepare(sql);
    } catch (err) {
      const m = err instanceof Error && attempt < 32 ? DQS_ERROR.exec(err.message) : null;
      if (!m) throw err;
      const quoted = `"${m[1]}"`;
      const literal = `'${m[1]!.replace(/""/g, '"').replace(/'/g, "''")}'`;
      const next = replaceOutsideSingleQuotes(sql, quoted, literal);
      if (next === sql) throw err;
      sql = next;
    }
  }
}

function replaceOutsideSingleQuotes(sql: string, from: string, to: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    if (sql[i] === "'") {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === "'" && sql[j + 1] !== "'")) j += sql[j] === "'" ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (sql.startsWith(from, i)) {
      out += to;
      i += from.length;
    } else out += sql[i++];
  }
  return out;
}

function prepare(db: Database.Database, sql: string): Database.Statement | string {
  if (REFUSED_LEADING.test(leadingKeyword(sql))) {
    return `refused: only read-only queries are allowed (got ${leadingKeyword(sql).split(/\s/)[0]?.toUpperCase()})`;
  }
  const stmt = prepareWithDqs(db, sql);
  if (!stmt.readonly) return 'refused: the statement would modify the database';
  return stmt;
}

function run(req: WorkerRequest): ExecResult {
  const t0 = performance.now();
  const ms = () => performance.now() - t0;
  let db: Database.Database;
  try {
    db = connection(req.dbPath);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { kind: 'db_missing', message: `cannot open database ${req.dbPath}: ${reason}`, ms: ms() };
  }
  try {
    const stmt = prepare(db, req.sql);
    if (typeof stmt === 'string') return { kind: 'error', message: stmt, refused: true, ms: ms() };
    if (req.op === 'prepare') return { kind: 'rows', columns: [], rows: [], ms: ms() };
    if (!stmt.reader) return { kind: 'error', message: 'refused: the statement returns no rows (only queries are allowed)', refused: true, ms: ms() };
    const columns = stmt.columns().map((c) => c.name);
    stmt.raw(true).safeIntegers(req.exactIntegers);
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
    // SQLite's authorizer (load_extension and the like are off in this build) is the sandbox refusing, not bad SQL.
    return /^not authorized\b/.test(message) ? { kind: 'error', message: `refused: ${message}`, refused: true, ms: ms() } : { kind: 'error', message, ms: ms() };
  }
}

/**
 * Die with the parent. A worker blocked in a runaway query cannot notice its IPC channel closing, so a
 * parent that is killed (kill -9, an out-of-memory kill, a second Ctrl-C) would leave it burning a core
 * forever. On Linux, prctl(PR_SET_PDEATHSIG, SIGKILL) (called through koffi) has the kernel kill this
 * process when the parent dies. Elsewhere only the 'disconnect' handler below applies (idle workers).
 */
function dieWithParent(parentPid: number): void {
  if (process.platform !== 'linux') return;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as { load(lib: string): { func(sig: string): (...a: number[]) => number } };
    const prctl = koffi.load('libc.so.6').func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
    prctl(1 /* PR_SET_PDEATHSIG */, 9 /* SIGKILL */, 0, 0, 0);
  } catch {
    // no koffi or no glibc: idle workers still exit on disconnect
  }
  if (parentPid && process.ppid !== parentPid) process.exit(0); // the parent died before we asked
}
dieWithParent(Number(process.argv[2]));

process.on('message', (req: WorkerRequest) => {
  const response: WorkerResponse = { id: req.id, result: run(req) };
  process.send?.(response);
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
