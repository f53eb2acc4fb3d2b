// The bundled sample (examples/sample): SQLite databases kept as .sql text in the repo, built into
// the cache on first use (and rebuilt when the .sql changes), plus their questions file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

/** sqlrl's cache: `$SQLRL_CACHE`, else `~/.cache/sqlrl`. */
export function sqlrlCacheDir(): string {
  return resolve(process.env.SQLRL_CACHE ?? join(homedir(), '.cache', 'sqlrl'));
}

/** examples/sample in the installed package (src/data and dist/data are both two levels below the root). */
export const SAMPLE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples/sample');

/**
 * Builds `<name>.sqlite` from each `<name>.sql` in `sqlDir` into `outDir/<content hash>/`, atomically
 * (a half-built database is never visible). Returns the directory holding the .sqlite files.
 */
export function buildDatabasesFromSql(sqlDir: string, outDir: string): string {
  const files = readdirSync(sqlDir).filter((f) => f.endsWith('.sql')).sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update('\0').update(readFileSync(join(sqlDir, f)));
  const dir = join(outDir, hash.digest('hex').slice(0, 16));
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of files) {
    const db = new Database(join(tmp, f.replace(/\.sql$/, '.sqlite')));
    try {
      db.exec(readFileSync(join(sqlDir, f), 'utf8'));
    } finally {
      db.close();
    }
  }
  try {
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw err; // else another process won the race with identical content
  }
  return dir;
}

export function buildSampleDataset(): { questionsFile: string; dbDir: string; predictionsFile: string } {
  const dbDir = buildDatabasesFromSql(join(SAMPLE_DIR, 'databases'), join(sqlrlCacheDir(), 'sample'));
  return { questionsFile: join(SAMPLE_DIR, 'questions.jsonl'), dbDir, predictionsFile: join(SAMPLE_DIR, 'predictions.sql') };
}
