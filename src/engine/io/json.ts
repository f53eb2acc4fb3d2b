// Reading a JSON object from a model or checkpoint file: a parse error or a non-object names the file.
import { readFileSync } from 'node:fs';

export function readJsonObject(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`${path}: invalid JSON (${err.message}); the file is corrupt or truncated`);
    throw err;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}
