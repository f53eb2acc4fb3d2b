// Reads a YAML config file (a run config, a reward composition) into a plain object with camelCase keys.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UsageError } from './errors.js';

/** Loads a YAML config file into a plain object (camelCase or kebab-case keys). */
export function loadYamlConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`config file '${file}' cannot be read (check the --config path)`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new UsageError(`config file '${file}' is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (data == null) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`config file '${file}' must hold a mapping of option: value`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    out[k.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return out;
}
