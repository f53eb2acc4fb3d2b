// A reward from its name or file: a preset name, a YAML composition of components, or a reward module
// (a TypeScript/JavaScript file or an npm package) that defines its own components next to the built-ins.
// Modules load through tsx's scoped import (tsImport): Node 20 cannot import .ts on its own, and tsx is the
// loader the project already runs on, so a module sees the same TypeScript semantics as sqlrl's own code;
// the import is scoped (no global loader is registered in the user's process).
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { loadYamlConfig } from '../config-file.js';
import { formatZodError, UsageError } from '../errors.js';
import { COMPONENTS, type RewardComponent } from './components.js';
import type { ExtractRule } from './extract.js';
import { ComponentSpec, PRESETS, resolveDesign, RewardConfig, type LoadedReward } from './presets.js';

type Mode = 'spider' | 'bird' | 'strict';

/**
 * What a reward module exports (as its default export): the fields of a reward config, plus `custom`, the
 * components it defines. Each custom component is a function of the scoring context (the extracted SQL,
 * the execution verdict, result rows, schema; see RewardContext) and its `params`, returning
 * `{ value, detail? }`, possibly as a promise; name it in `components` like a built-in.
 */
export interface RewardModule {
  name?: string;
  preset?: string;
  mode?: Mode;
  extract?: ExtractRule;
  template?: 'plain' | 'think';
  components?: z.input<typeof ComponentSpec>[];
  custom?: Record<string, RewardComponent>;
}

/** Types a reward module's default export (an identity function, for editor help). */
export function defineReward(module: RewardModule): RewardModule {
  return module;
}

const MODULE_EXT = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs']);
const YAML_EXT = new Set(['.yaml', '.yml', '.json']);
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
const overrides = (mode?: Mode, extract?: ExtractRule) => ({ ...(mode ? { mode } : {}), ...(extract ? { extract } : {}) });

function parseConfig(raw: unknown, where: string): RewardConfig {
  const p = RewardConfig.safeParse(raw);
  if (!p.success) throw new UsageError(formatZodError(p.error, where));
  return p.data;
}

/**
 * `spec` is a preset name or a YAML reward config file; `mode` and `extract` override the design's.
 * Synchronous, so reward modules (which load asynchronously) are refused here: use loadReward.
 */
export function loadRewardConfig(spec: string, mode?: Mode, extract?: ExtractRule): RewardConfig {
  let cfg: RewardConfig;
  if (PRESETS[spec]) cfg = { preset: spec };
  else if (isFile(spec) && MODULE_EXT.has(extname(spec))) {
    throw new UsageError(`reward module '${spec}' loads asynchronously: use loadReward() (sqlrl serve and the library API do)`);
  } else if (isFile(spec)) {
    cfg = parseConfig(loadYamlConfig(spec), `reward config '${spec}'`);
    if (cfg.modules?.length) throw new UsageError(`reward config '${spec}' names modules (${cfg.modules.join(', ')}): load it with loadReward() (sqlrl serve and the library API do)`);
  } else throw new UsageError(`unknown reward preset '${spec}' (known: ${Object.keys(PRESETS).join(', ')}; or pass a YAML file)`);
  return { ...cfg, ...overrides(mode, extract) };
}

/** Imports a module (file or package) relative to `baseDir`, TypeScript included; its default export. */
async function importModule(spec: string, baseDir: string): Promise<unknown> {
  const { tsImport } = await import('tsx/esm/api');
  const local = spec.startsWith('.') || spec.startsWith('/') ? resolve(baseDir, spec) : null;
  if (local && !isFile(local)) throw new UsageError(`reward module '${spec}' not found (looked at ${local})`);
  let ns: Record<string, unknown>;
  try {
    ns = (await tsImport(local ? pathToFileURL(local).href : spec, pathToFileURL(resolve(baseDir, 'noop.js')).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!local && (e.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(e.message))) {
      throw new UsageError(`reward module '${spec}' is not an installed package (npm install it, or pass a file path)`);
    }
    throw new UsageError(`reward module '${spec}' failed to load: ${e.message.split('\n')[0]}`);
  }
  // An ES module's default export; a CommonJS module's exports arrive as `default` too (and sometimes nested once more).
  let m: unknown = ns.default ?? ns;
  const o = m as Record<string, unknown> | null;
  if (o && typeof o === 'object' && 'default' in o && !('custom' in o) && !('components' in o) && !('preset' in o)) m = o.default;
  return m;
}

const ModuleFields = RewardConfig.omit({ modules: true }).extend({ custom: z.record(z.string(), z.any()).optional() }).strict();

function checkModule(raw: unknown, spec: string): { config: RewardConfig; custom: Record<string, RewardComponent> } {
  if (!raw || typeof raw !== 'object') throw new UsageError(`reward module '${spec}' must default-export an object (see defineReward in docs/rewards.md)`);
  const p = ModuleFields.safeParse(raw);
  if (!p.success) throw new UsageError(formatZodError(p.error, `reward module '${spec}'`));
  const { custom = {}, ...config } = p.data;
  for (const [name, fn] of Object.entries(custom)) {
    if (typeof fn !== 'function') throw new UsageError(`reward module '${spec}': custom.${name} is not a function`);
    if (COMPONENTS[name]) throw new UsageError(`reward module '${spec}': custom component '${name}' has a built-in's name (pick another)`);
  }
  return { config, custom: custom as Record<string, RewardComponent> };
}

function mergeCustom(into: Record<string, RewardComponent>, add: Record<string, RewardComponent>, spec: string): void {
  for (const [name, fn] of Object.entries(add)) {
    if (into[name]) throw new UsageError(`reward module '${spec}': component '${name}' is already defined by another module`);
    into[name] = fn;
  }
}

function checkDesign(loaded: LoadedReward, where: string): LoadedReward {
  try {
    resolveDesign(loaded.config, loaded.custom);
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
  return loaded;
}

/**
 * A reward by name: a preset, a YAML reward config (whose `modules` add custom components; paths are
 * relative to the YAML file), a reward module file (.ts, .mts, .js, .mjs, ...) or an installed npm package
 * exporting a RewardModule. `mode` and `extract` override the design's.
 */
export async function loadReward(spec: string, opts: { mode?: Mode; extract?: ExtractRule; baseDir?: string } = {}): Promise<LoadedReward> {
  const base = opts.baseDir ?? process.cwd();
  const over = overrides(opts.mode, opts.extract);
  if (PRESETS[spec]) return { config: { preset: spec, ...over }, custom: {} };
  const path = resolve(base, spec);
  if (isFile(path) && (YAML_EXT.has(extname(path)) || !MODULE_EXT.has(extname(path)))) {
    const config = parseConfig(loadYamlConfig(path), `reward config '${spec}'`);
    const custom: Record<string, RewardComponent> = {};
    for (const m of config.modules ?? []) mergeCustom(custom, checkModule(await importModule(m, dirname(path)), m).custom, m);
    const { modules: _modules, ...rest } = config;
    return checkDesign({ config: { ...rest, ...over }, custom }, `reward config '${spec}'`);
  }
  const looksLikePath = spec.startsWith('.') || spec.startsWith('/') || MODULE_EXT.has(extname(spec));
  if (!looksLikePath && !/^(@[\w.-]+\/)?[\w.-]+(\/[\w.-]+)*$/.test(spec)) {
    throw new UsageError(`unknown reward preset '${spec}' (known: ${Object.keys(PRESETS).join(', ')}; or a YAML file, a reward module file, or an npm package)`);
  }
  if (looksLikePath && !isFile(path)) throw new UsageError(`reward '${spec}' not found (looked at ${path})`);
  let raw: unknown;
  try {
    raw = await importModule(looksLikePath ? path : spec, base);
  } catch (err) {
    if (!looksLikePath && err instanceof UsageError && /not an installed package/.test(err.message)) {
      throw new UsageError(`unknown reward preset '${spec}' (known: ${Object.keys(PRESETS).join(', ')}; or a YAML file, a reward module file, or an installed npm package)`);
    }
    throw err;
  }
  const m = checkModule(raw, spec);
  if (!m.config.preset && !m.config.components?.length) throw new UsageError(`reward module '${spec}' has neither a preset nor components (a module used as the reward names its design; one that only defines custom components goes under a YAML config's modules:)`);
  const name = m.config.name ?? basename(spec).replace(/\.[cm]?[jt]s$/, '');
  return checkDesign({ config: { ...m.config, name, ...over }, custom: m.custom }, `reward module '${spec}'`);
}
