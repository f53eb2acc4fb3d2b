// Reward designs as data: a weighted sum of components, each with its parameters, optionally gated on
// the format check (SQL-R1 scores execution only when the format passes). The published designs are
// presets; any other combination is a config (YAML/zod) of the same shape.
import { z } from 'zod';
import type { CompareMode } from '../sql/compare.js';
import { COMPONENTS, formatPasses, type RewardComponent, type RewardContext } from './components.js';
import { EXTRACT_RULES, type ExtractRule } from './extract.js';

export const ComponentSpec = z.object({
  name: z.string().min(1).describe('component: ' + Object.keys(COMPONENTS).join(', ') + ', or one a reward module defines'),
  weight: z.number().default(1).describe('multiplier of the component value'),
  params: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])).default({}).describe('component parameters (see docs/rewards.md)'),
  gate: z.enum(['none', 'format']).default('none').describe("'format': contributes 0 unless the format check passes"),
});
export type ComponentSpec = z.infer<typeof ComponentSpec>;

export const RewardConfig = z
  .object({
    name: z.string().optional().describe('name of the design (logs, /health, run files); default: the preset\'s, or the reward module\'s file name'),
    preset: z.string().optional().describe('start from a preset: ' + 'arctic, sql-r1, seed-000, seed-002, seed-003, seed-004'),
    mode: z.enum(['spider', 'bird', 'strict']).optional().describe('result comparison mode (default: the preset\'s, else strict)'),
    extract: z.enum(EXTRACT_RULES as [ExtractRule, ...ExtractRule[]]).optional().describe("how SQL is found in a response: 'sql-r1', 'arctic' (the papers' code), 'lenient' (any fence, unclosed, bare SQL); default: the preset's, else lenient"),
    components: z.array(ComponentSpec).optional().describe('components of the weighted sum (replace the preset\'s)'),
    template: z.enum(['plain', 'think']).optional().describe('prompt/output format the format component checks'),
    modules: z.array(z.string()).optional().describe('reward modules (TypeScript/JavaScript files or npm packages) whose custom components the list may name'),
  })
  .strict();
export type RewardConfig = z.infer<typeof RewardConfig>;

/** A reward config with the custom components its modules define (what `loadReward` returns). */
export interface LoadedReward {
  config: RewardConfig;
  custom: Record<string, RewardComponent>;
}

export interface RewardDesign {
  name: string;
  description: string;
  mode: CompareMode;
  /** How SQL is found in a response (part of the preset: the papers' code is strict about it). */
  extract: ExtractRule;
  template: 'plain' | 'think';
  components: ComponentSpec[];
}

const c = (name: string, weight: number, params: ComponentSpec['params'] = {}, gate: ComponentSpec['gate'] = 'none'): ComponentSpec => ({ name, weight, params, gate });

/**
 * SQL-R1's terms (synsql.py compute_score; ANCHORS §1.1), each under its own name. Execution: `Match` or
 * `Mismatch` +2, `Unexecutable` (error, timeout) −2, `Gold Error` 0; a result over sqlrl's size cap ran,
 * so it counts as executable and wrong. Result: Match +3, Mismatch −3, otherwise 0.
 */
const SQL_R1: ComponentSpec[] = [
  c('format', 1, { ok: 1, bad: -1 }),
  c('execution', 1, { match: 2, mismatch: 2, too_large: 2, error: -2, refused: -2, timeout: -2, no_sql: -2, gold_error: 0 }, 'format'),
  c('result', 1, { match: 3, mismatch: -3, too_large: -3, error: 0, refused: 0, timeout: 0, no_sql: 0, gold_error: 0 }, 'format'),
  c('length', 1, { limit: 2048 }, 'format'),
];

export const PRESETS: Record<string, RewardDesign> = {
  arctic: {
    name: 'arctic',
    description: 'Arctic-Text2SQL-R1: 1.0 if the result matches, 0.1 if it executes but is wrong, 0 otherwise',
    mode: 'strict',
    extract: 'arctic',
    template: 'think',
    components: [c('execution', 1, { match: 1, mismatch: 0.1, too_large: 0.1, error: 0, refused: 0, timeout: 0, no_sql: 0, gold_error: 0 })],
  },
  'sql-r1': {
    name: 'sql-r1',
    description: 'SQL-R1: format ±1; if the format passes, executable +2 / unexecutable −2, result match +3 / mismatch −3, length term on a match',
    mode: 'spider',
    extract: 'sql-r1',
    template: 'think',
    components: SQL_R1,
  },
  'seed-000': {
    name: 'seed-000',
    description: 'seed 000: 1.0 × execution match + 0.3 × Jaccard of SQL components when execution does not match',
    mode: 'strict',
    extract: 'lenient',
    template: 'plain',
    components: [c('execution', 1), c('structural_jaccard', 0.3, { onlyIfWrong: true })],
  },
  'seed-002': {
    name: 'seed-002',
    description: 'seed 002: +5 exact result match, −1 invalid SQL, −2 empty response, F1 of result rows as partial credit',
    mode: 'strict',
    extract: 'lenient',
    template: 'plain',
    components: [c('execution', 1, { match: 5, mismatch: 0, error: -1, timeout: -1, too_large: 0, no_sql: -2, gold_error: 0 }), c('result_f1', 1, { onlyIfMismatch: true })],
  },
  'seed-003': {
    name: 'seed-003',
    description: 'seed 003: 0.2 × syntax (−0.5 invalid, 1.0 valid) + 0.6 × execution (−0.8 error, 0 wrong, 1.0 match) + 0.2 × token Jaccard (−0.2 .. 0.8)',
    mode: 'strict',
    extract: 'lenient',
    template: 'plain',
    components: [
      c('syntax', 0.2, { valid: 1, invalid: -0.5 }),
      c('execution', 0.6, { match: 1, mismatch: 0, error: -0.8, timeout: -0.8, too_large: 0, no_sql: -0.8, gold_error: 0 }),
      c('token_jaccard', 0.2, { offset: -0.2 }),
    ],
  },
  'seed-004': {
    name: 'seed-004',
    description: 'seed 004: SQL-R1 baseline + schema hallucination −0.5 each + structural SELECT 0.3 / WHERE 0.3 / JOIN 0.2 + syntax 0.2',
    mode: 'spider',
    extract: 'sql-r1',
    template: 'think',
    components: [...SQL_R1, c('hallucination', 1, { perName: -0.5 }), c('structural_clauses', 1, { select: 0.3, where: 0.3, join: 0.2 }), c('syntax', 0.2, { valid: 1, invalid: 0 })],
  },
};

/** The design a config describes: a preset, optionally with its mode/extract/components/template replaced. `custom`: components reward modules define. */
export function resolveDesign(config: RewardConfig | string, custom: Record<string, RewardComponent> = {}): RewardDesign {
  const cfg: RewardConfig = typeof config === 'string' ? { preset: config } : config;
  let base: RewardDesign;
  if (cfg.preset) {
    const p = PRESETS[cfg.preset];
    if (!p) throw new Error(`unknown reward preset '${cfg.preset}' (known: ${Object.keys(PRESETS).join(', ')})`);
    base = p;
  } else {
    if (!cfg.components?.length) throw new Error('reward config needs a preset or a list of components');
    base = { name: 'custom', description: 'custom weighted sum', mode: 'strict', extract: 'lenient', template: 'plain', components: [] };
  }
  const components = cfg.components ? cfg.components.map((x) => ComponentSpec.parse(x)) : base.components;
  for (const spec of components) {
    if (!COMPONENTS[spec.name] && !custom[spec.name]) {
      const known = [...Object.keys(COMPONENTS), ...Object.keys(custom)];
      throw new Error(`unknown reward component '${spec.name}' (known: ${known.join(', ')}; custom components come from a reward module)`);
    }
  }
  return {
    ...base,
    name: cfg.name ?? base.name,
    mode: cfg.mode ?? base.mode,
    extract: cfg.extract ?? base.extract,
    template: cfg.template ?? base.template,
    components,
  };
}

export interface RewardBreakdown {
  reward: number;
  /** Weighted contribution per component name (summed when a name repeats). */
  components: Record<string, number>;
  details: Record<string, unknown>;
}

/**
 * The weighted sum of a design's components on one context, in the design's order (pure). A custom
 * component (from a reward module) may be async, so the sum is a promise.
 */
export async function scoreContext(design: RewardDesign, ctx: RewardContext, custom: Record<string, RewardComponent> = {}): Promise<RewardBreakdown> {
  const components: Record<string, number> = {};
  const details: Record<string, unknown> = {};
  let total = 0;
  const formatOk = formatPasses(ctx.extraction, design.template);
  for (const spec of design.components) {
    const fn = custom[spec.name] ?? COMPONENTS[spec.name];
    if (!fn) throw new Error(`unknown reward component '${spec.name}'`);
    if (spec.gate === 'format' && !formatOk) {
      components[spec.name] = (components[spec.name] ?? 0) + 0;
      continue;
    }
    const out = await fn(ctx, { ...spec.params, template: design.template });
    if (typeof out?.value !== 'number' || !Number.isFinite(out.value)) throw new Error(`reward component '${spec.name}' returned ${JSON.stringify(out)} (needs {value: finite number})`);
    const v = spec.weight * out.value;
    components[spec.name] = (components[spec.name] ?? 0) + v;
    if (out.detail) details[spec.name] = out.detail;
    total += v;
  }
  return { reward: Math.round(total * 1e12) / 1e12, components, details };
}

/** Components a design needs computed: lets the scorer skip a syntax check or schema read nobody uses (custom components get both). */
export function needs(design: RewardDesign): { syntax: boolean; schema: boolean } {
  const names = new Set(design.components.map((x) => x.name));
  const custom = [...names].some((n) => !COMPONENTS[n]);
  return { syntax: custom || names.has('syntax'), schema: custom || names.has('hallucination') };
}
