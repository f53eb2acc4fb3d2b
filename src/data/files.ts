// Reading dataset files: JSON with errors that name the file and the fix, typed fields, database paths.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function readJson(file: string, what: string, fix: string): unknown {
  if (!existsSync(file)) throw new Error(`${what} '${file}' not found (${fix})`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new Error(`${what} '${file}' is not valid JSON: ${(err as Error).message}`);
  }
}

export function asRecords(value: unknown, file: string): Record<string, unknown>[] {
  if (!Array.isArray(value)) throw new Error(`'${file}' must hold a JSON array of examples`);
  return value as Record<string, unknown>[];
}

export function str(rec: Record<string, unknown>, keys: string[], file: string, i: number): string {
  for (const k of keys) if (typeof rec[k] === 'string') return rec[k] as string;
  throw new Error(`${file}: example ${i} has no string field ${keys.map((k) => `'${k}'`).join(' or ')}`);
}

/** `<dbDir>/<id>/<id>.sqlite` (Spider, BIRD), or `<dbDir>/<id>.sqlite`, whichever exists; the first if neither. */
export function dbPathFor(dbDir: string, dbId: string): string {
  const nested = join(dbDir, dbId, `${dbId}.sqlite`);
  if (existsSync(nested)) return nested;
  const flat = join(dbDir, `${dbId}.sqlite`);
  return existsSync(flat) ? flat : nested;
}
