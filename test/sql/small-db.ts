// A small SQLite database built by the tests themselves, so the sandbox's behaviour is tested without
// Spider: six singers and three concerts (the shape of Spider's concert_singer, with its values).
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SINGERS: [number, string, string, number][] = [
  [1, 'Joe Sharp', 'Netherlands', 52],
  [2, 'Timbaland', 'United States', 32],
  [3, 'Justin Brown', 'France', 29],
  [4, 'Rose White', 'France', 41],
  [5, 'John Nizinik', 'France', 43],
  [6, 'Tribal King', 'France', 25],
];

/** Writes the database to `path` (a new file). */
export function writeSmallDb(path: string): string {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE singer (Singer_ID INTEGER PRIMARY KEY, Name TEXT, Country TEXT, Age INTEGER);
    CREATE TABLE concert (concert_ID INTEGER PRIMARY KEY, concert_Name TEXT, Year TEXT, Singer_ID INTEGER REFERENCES singer(Singer_ID));
  `);
  const ins = db.prepare('INSERT INTO singer VALUES (?, ?, ?, ?)');
  for (const s of SINGERS) ins.run(...s);
  db.exec("INSERT INTO concert VALUES (1, 'Auditions', '2014', 2), (2, 'Super bootcamp', '2014', 3), (3, 'Home Visits', '2015', 5)");
  db.close();
  return path;
}

/** A fresh temporary folder holding `concert_singer.sqlite`; returns both paths. */
export function smallDbDir(prefix = 'sqlrl-db-'): { dir: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, db: writeSmallDb(join(dir, 'concert_singer.sqlite')) };
}

/** A query that never ends (an unbounded recursive CTE): no machine finishes it under any timeout. */
export const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';

/** A query with a known answer (its row count, `n`) that keeps a worker busy for about n / 6e6 s of CPU. */
export const countTo = (n: number) => `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT count(*) FROM c`;
