// The generic dataset format: one JSON object per line.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { dbPathFor, str } from './files.js';
import type { Example } from './types.js';

/**
 * One JSON object per line: `question`, `sql` (or `query`/`gold_sql`), and `db_path` (relative to the
 * file) or `db_id` (under dbDir, default the file's directory). Optional `id`, `evidence`, `difficulty`.
 */
export function loadJsonl(file: string, dbDir?: string): Example[] {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`JSONL file '${path}' not found (pass --file or --data-dir with the .jsonl path)`);
  const base = dirname(path);
  const dbRoot = resolve(dbDir ?? base);
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: Example[] = [];
  lines.forEach((line, lineNo) => {
    if (!line.trim()) return;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${path}:${lineNo + 1}: not a JSON object`);
    }
    const where = `${path}:${lineNo + 1}`;
    const index = out.length;
    const dbPathField = typeof rec.db_path === 'string' ? rec.db_path : undefined;
    const dbId = typeof rec.db_id === 'string' ? rec.db_id : undefined;
    if (!dbPathField && !dbId) throw new Error(`${where}: needs 'db_id' or 'db_path'`);
    const dbPath = dbPathField ? (isAbsolute(dbPathField) ? dbPathField : resolve(base, dbPathField)) : dbPathFor(dbRoot, dbId!);
    out.push({
      id: typeof rec.id === 'string' ? rec.id : `jsonl-${String(index).padStart(4, '0')}`,
      index,
      question: str(rec, ['question'], where, index),
      dbId: dbId ?? dbPath.replace(/^.*[\\/]/, '').replace(/\.(sqlite3?|db)$/, ''),
      dbPath,
      goldSql: str(rec, ['sql', 'query', 'gold_sql', 'SQL'], where, index),
      ...(typeof rec.evidence === 'string' && rec.evidence ? { evidence: rec.evidence } : {}),
      ...(typeof rec.difficulty === 'string' ? { difficulty: rec.difficulty } : {}),
    });
  });
  return out;
}
