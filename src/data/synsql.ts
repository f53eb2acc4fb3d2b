// SynSQL-2.5M (OmniSQL's synthetic data, SQL-R1's RL set): `data.json`, one JSON array of
// {db_id, sql_complexity, question_style, question, external_knowledge, cot, sql}, beside a
// `databases/<db_id>/<db_id>.sqlite` folder. The file is ~9 GB, past what one JSON.parse (or one
// string) can hold, so it is read in chunks through a streaming parser and only the fields a prompt
// and a reward need are kept. Subsets in the same record format (SQL-R1 samples `*.jsonl` files from
// it) load the same way, as a JSON array or one record per line.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { JSONParser } from '@streamparser/json';
import { dbPathFor, str } from './files.js';
import type { Example } from './types.js';

export interface SynsqlOptions {
  /** Folder of the databases (default: `databases/` beside the data file). */
  dbDir?: string;
  /** Stop after this many kept records (the rest of the file is not read). */
  limit?: number;
  /** Keep only these `sql_complexity` values (Simple, Moderate, Complex, Highly Complex), compared case-insensitively. */
  complexity?: string[];
}

const CHUNK = 4 * 1024 * 1024;

/** The data file of a SynSQL folder (`DIR/data.json`), or the file itself. */
export function synsqlFile(source: string): string {
  const path = resolve(source);
  if (existsSync(path) && statSync(path).isDirectory()) return join(path, 'data.json');
  return path;
}

/**
 * Examples of a SynSQL-2.5M file, in file order. `index` is the record's position in the file (0-based,
 * counting every record, kept or filtered out) and the id is `synsql-<index>`, so an example keeps its id
 * whatever filters or limit select it. `external_knowledge` becomes the evidence (prepended to the
 * question, as OmniSQL does), `sql_complexity` the difficulty.
 */
export function loadSynsql(source: string, opts: SynsqlOptions = {}): Example[] {
  const file = synsqlFile(source);
  if (!existsSync(file)) {
    throw new Error(`SynSQL file '${file}' not found (pass --data-dir DIR holding data.json and databases/, or --file with a JSON/JSONL subset; SynSQL-2.5M is on the Hugging Face hub as seeklhy/SynSQL-2.5M)`);
  }
  const dbRoot = resolve(opts.dbDir ?? join(dirname(file), 'databases'));
  const wanted = opts.complexity?.length ? new Set(opts.complexity.map((c) => c.toLowerCase())) : null;
  const out: Example[] = [];
  let position = -1;
  let done = false;
  const take = (value: unknown) => {
    position++;
    if (done) return;
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: record ${position} is not a JSON object`);
    const rec = value as Record<string, unknown>;
    const complexity = typeof rec.sql_complexity === 'string' ? rec.sql_complexity : undefined;
    if (wanted && !(complexity && wanted.has(complexity.toLowerCase()))) return;
    const dbId = str(rec, ['db_id'], file, position);
    const evidence = typeof rec.external_knowledge === 'string' && rec.external_knowledge.trim() ? rec.external_knowledge : undefined;
    out.push({
      id: `synsql-${String(position).padStart(7, '0')}`,
      index: position,
      question: str(rec, ['question'], file, position),
      dbId,
      dbPath: dbPathFor(dbRoot, dbId),
      goldSql: str(rec, ['sql', 'SQL', 'query'], file, position),
      ...(evidence ? { evidence } : {}),
      ...(complexity ? { difficulty: complexity } : {}),
    });
    if (opts.limit !== undefined && out.length >= opts.limit) done = true;
  };

  const fd = openSync(file, 'r');
  let recordError: Error | null = null;
  let parser: JSONParser | null = null;
  const fail = (err: unknown): never => {
    if (recordError) throw recordError;
    throw new Error(`${file}: not valid JSON after record ${position}: ${(err as Error).message}`);
  };
  try {
    let read: number;
    // A fresh buffer per chunk: the parser may keep views of the bytes of a value split across chunks.
    for (let buf = Buffer.allocUnsafe(CHUNK); !done && (read = readSync(fd, buf, 0, buf.length, null)) > 0; buf = Buffer.allocUnsafe(CHUNK)) {
      const chunk = buf.subarray(0, read);
      if (!parser) {
        // A JSON array yields its elements; anything else is read as one record per line (JSONL).
        const first = chunk.toString('utf8', 0, Math.min(read, 4096)).trimStart()[0];
        parser = first === '[' ? new JSONParser({ paths: ['$.*'], keepStack: false }) : new JSONParser({ paths: ['$'], keepStack: false, separator: '' });
        parser.onValue = ({ value }) => {
          try {
            take(value);
          } catch (err) {
            recordError = err as Error;
            throw err;
          }
        };
      }
      try {
        parser.write(chunk);
      } catch (err) {
        fail(err);
      }
    }
    if (parser && !done && !parser.isEnded) {
      try {
        parser.end();
      } catch (err) {
        fail(err);
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
