// Command options from one zod schema: the same fields come from a YAML file
// (`--config`) and from flags (flags win); `--help` is generated from the
// schema's field descriptions and defaults.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { loadYamlConfig } from '../config-file.js';
import { formatZodError, UsageError } from '../errors.js';

type AnyObject = z.ZodObject<z.ZodRawShape>;

/** camelCase field name -> kebab-case flag name. */
export function flagName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

interface FieldInfo {
  kind: 'string' | 'number' | 'boolean' | 'enum' | 'array' | 'other';
  description: string;
  defaultValue: unknown;
  choices?: string[];
  optional: boolean;
}

/** Reads the kind, description and default of one schema field (zod 4). */
export function fieldInfo(schema: z.ZodType): FieldInfo {
  let t: z.ZodType = schema;
  let defaultValue: unknown;
  let optional = false;
  let description = schema.description ?? '';
  for (;;) {
    const def = (t as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
    if (!description && t.description) description = t.description;
    if (def.type === 'default' || def.type === 'prefault') {
      const dv = def.defaultValue;
      defaultValue = typeof dv === 'function' ? (dv as () => unknown)() : dv;
      t = def.innerType as z.ZodType;
    } else if (def.type === 'optional' || def.type === 'nullable') {
      optional = true;
      t = def.innerType as z.ZodType;
    } else if (def.type === 'pipe') {
      t = def.in as z.ZodType;
    } else {
      let kind: FieldInfo['kind'] = 'other';
      let choices: string[] | undefined;
      if (def.type === 'string') kind = 'string';
      else if (def.type === 'number' || def.type === 'int') kind = 'number';
      else if (def.type === 'boolean') kind = 'boolean';
      else if (def.type === 'array') kind = 'array';
      else if (def.type === 'enum') {
        kind = 'enum';
        choices = Object.values(def.entries as Record<string, string>);
      } else if (def.type === 'literal') {
        kind = 'enum';
        choices = (def.values as unknown[]).map(String);
      }
      return { kind, description, defaultValue, choices, optional };
    }
  }
}

/** Adds one flag per schema field to a commander command, plus `--config FILE`. */
export function addSchemaOptions(cmd: Command, schema: AnyObject, opts: { positional?: string[] } = {}): Command {
  cmd.option('--config <file>', 'YAML file with any of the options below (flags override it)');
  for (const [key, field] of Object.entries(schema.shape)) {
    if (opts.positional?.includes(key)) continue;
    const info = fieldInfo(field as z.ZodType);
    const flag = flagName(key);
    const help = info.description;
    let option: Option;
    if (info.kind === 'boolean') {
      option = new Option(`--${flag}`, help);
      cmd.addOption(option);
      if (info.defaultValue === true) cmd.addOption(new Option(`--no-${flag}`, `turn off --${flag}`));
      continue;
    } else if (info.kind === 'array') {
      option = new Option(`--${flag} <values...>`, help);
    } else if (info.kind === 'number') {
      option = new Option(`--${flag} <n>`, help).argParser((v: string) => {
        const n = Number(v);
        if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got '${v}'`);
        return n;
      });
    } else {
      option = new Option(`--${flag} <value>`, help);
      if (info.choices) option.choices(info.choices);
    }
    if (info.defaultValue !== undefined) option.default(info.defaultValue, JSON.stringify(info.defaultValue));
    cmd.addOption(option);
  }
  return cmd;
}

/**
 * Merges defaults < YAML config < explicitly given flags and validates with the
 * schema (strict: unknown fields are errors).
 */
export function resolveOptions<S extends AnyObject>(cmd: Command, schema: S, extra: Record<string, unknown> = {}): z.infer<S> {
  const flags = cmd.opts() as Record<string, unknown>;
  const fromFile = typeof flags.config === 'string' ? loadYamlConfig(flags.config) : {};
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [key, value] of Object.entries(flags)) {
    if (key === 'config') continue;
    const source = cmd.getOptionValueSource(key);
    if (source === 'default' && key in fromFile) continue;
    if (value !== undefined) merged[key] = value;
  }
  Object.assign(merged, extra);
  const result = schema.strict().safeParse(merged);
  if (!result.success) {
    throw new UsageError(formatZodError(result.error, typeof flags.config === 'string' ? `invalid option (config ${flags.config})` : 'invalid option'));
  }
  return result.data as z.infer<S>;
}
