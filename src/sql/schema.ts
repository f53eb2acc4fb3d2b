// The schema of a SQLite database as prompts and rewards need it: tables, columns (type, primary
// key), foreign keys, and a few sample values per column. Read once per file (read-only) and cached.
// A file that cannot be read gives a SchemaReadError naming it, so a caller can skip that example.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';

export interface ColumnInfo {
  name: string;
  type: string;
  pk: boolean;
  /** Up to `samples` distinct non-null values, as text. */
  samples: string[];
}

export interface ForeignKey {
  column: string;
  refTable: string;
  refColumn: string;
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  foreignKeys: ForeignKey[];
  /** The CREATE TABLE statement as stored in sqlite_master. */
  createSql: string;
}

export interface DbSchema {
  path: string;
  tables: TableInfo[];
}

const cache = new Map<string, DbSchema>();

/** A database whose schema cannot be read (missing, unreadable, not SQLite); the message names the file. */
export class SchemaReadError extends Error {
  override name = 'SchemaReadError';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`cannot read the schema of ${path}: ${reason}`);
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function readSchema(dbPath: string, opts: { samples?: number } = {}): DbSchema {
  const samples = opts.samples ?? 3;
  const key = `${dbPath}\u0000${samples}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (!existsSync(dbPath)) throw new SchemaReadError(dbPath, 'the database file does not exist');
  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new SchemaReadError(dbPath, (err as Error).message);
  }
  try {
    const tables = (db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid").all() as { name: string; sql: string | null }[]).map(
      (t): TableInfo => {
        const cols = db.prepare(`PRAGMA table_info(${quoteIdent(t.name)})`).all() as { name: string; type: string; pk: number }[];
        const fks = db.prepare(`PRAGMA foreign_key_list(${quoteIdent(t.name)})`).all() as { table: string; from: string; to: string | null }[];
        return {
          name: t.name,
          createSql: t.sql ?? '',
          columns: cols.map((c) => ({
            name: c.name,
            type: c.type,
            pk: c.pk > 0,
            samples:
              samples > 0
                ? (db.prepare(`SELECT DISTINCT ${quoteIdent(c.name)} AS v FROM ${quoteIdent(t.name)} WHERE ${quoteIdent(c.name)} IS NOT NULL LIMIT ${samples}`).all() as { v: unknown }[]).map((r) =>
                    r.v instanceof Uint8Array ? `<blob ${r.v.byteLength} bytes>` : String(r.v),
                  )
                : [],
          })),
          foreignKeys: fks.map((f) => ({ column: f.from, refTable: f.table, refColumn: f.to ?? '' })),
        };
      },
    );
    const schema = { path: dbPath, tables };
    cache.set(key, schema);
    return schema;
  } catch (err) {
    throw new SchemaReadError(dbPath, (err as Error).message);
  } finally {
    db.close();
  }
}

/** Lower-cased table name -> lower-cased column names, for name checks (SQLite names are case-insensitive). */
export function schemaNames(schema: DbSchema): Map<string, Set<string>> {
  return new Map(schema.tables.map((t) => [t.name.toLowerCase(), new Set(t.columns.map((c) => c.name.toLowerCase()))]));
}
