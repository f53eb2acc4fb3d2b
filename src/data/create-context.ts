// Loader for the sql-create-context format (b-mc2/sql-create-context; seed 003): records of
// {question, context, answer} where `context` holds the CREATE TABLE statements. Each distinct
// context is materialized once as an (empty) SQLite database in a cache directory, so the SQL
// can be executed and checked against the schema; with empty tables, execution match only
// tells executable-and-empty apart, which is why seed 003 pairs it with syntax and semantic rewards.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Example } from './types.js';

export interface CreateContextRecord {
  question: string;
  context: string;
  answer: string;
}

/** Reads a JSON array or JSONL file of {question, context, answer} records. */
export function readCreateContextFile(file: string): CreateContextRecord[] {
  if (!existsSync(file)) throw new Error(`sql-create-context file '${file}' not found (pass --data-dir or the file path)`);
  const text = readFileSync(file, 'utf8').trim();
  let items: unknown[];
  if (text.startsWith('[')) items = JSON.parse(text) as unknown[];
  else items = text.split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as unknown;
    } catch {
      throw new Error(`${file}:${i + 1}: not a JSON object`);
    }
  });
  return items.map((it, i) => {
    const r = it as Partial<CreateContextRecord>;
    if (typeof r?.question !== 'string' || typeof r.context !== 'string' || typeof r.answer !== 'string') {
      throw new Error(`${file}: record ${i} needs string fields question, context and answer`);
    }
    return { question: r.question, context: r.context, answer: r.answer };
  });
}

/** The id of a context's database: the first 16 hex digits of its SHA-256. */
export function contextDbId(context: string): string {
  return 'ctx_' + createHash('sha256').update(context.trim()).digest('hex').slice(0, 16);
}

/** Creates (once) the SQLite database of one context; returns its path. Atomic: temp file + rename. */
export function materializeContext(context: string, cacheDir: string): string {
  const path = resolve(cacheDir, `${contextDbId(context)}.sqlite`);
  if (existsSync(path)) return path;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  try {
    db.exec(context);
  } catch (e) {
    db.close();
    rmSync(tmp, { force: true });
    throw new Error(`context is not valid SQLite DDL (${(e as Error).message}): ${context.slice(0, 120)}`);
  }
  db.close();
  renameSync(tmp, path);
  return path;
}

/** Loads a sql-create-context file as Examples, materializing each context's database under `cacheDir`. */
export function loadCreateContext(file: string, cacheDir: string, opts: { prefix?: string } = {}): Example[] {
  const records = readCreateContextFile(file);
  const prefix = opts.prefix ?? 'create-context';
  return records.map((r, index) => ({
    id: `${prefix}-${String(index).padStart(5, '0')}`,
    index,
    question: r.question,
    dbId: contextDbId(r.context),
    dbPath: materializeContext(r.context, join(cacheDir)),
    goldSql: r.answer,
  }));
}
