// Reward components: pure functions of a context that already holds everything execution told us
// (the scorer runs the sandbox; nothing here does I/O). Each returns a value and a breakdown.
// Custom components (reward modules, docs/rewards.md) have the same shape and may be async.
import type { MatchVerdict } from '../sql/match.js';
import { clauseComponents, componentSet, hallucinatedNames, jaccard, sqlTokens } from '../sql/structure.js';
import type { ExecResult, SqlValue } from '../sql/types.js';
import { pyValueKey } from '../sql/compare.js';
import type { Extraction } from './extract.js';

/** What a completion became: no SQL at all, or the execution verdict against the gold. */
export type Verdict = MatchVerdict | 'no_sql';

export interface RewardContext {
  /** What the model generated. */
  completion: string;
  /** Text the prompt prefilled in the assistant turn ('' if none); the rules read prefix + completion. */
  prefix: string;
  /** prefix + completion: the whole assistant turn, as extraction and the format check saw it. */
  response: string;
  extraction: Extraction;
  /** The gold SQL as the design's rule runs it (SQL-R1 collapses its whitespace). */
  goldSql: string;
  verdict: Verdict;
  pred: ExecResult | null;
  gold: ExecResult | null;
  /** SQLite prepared the prediction (null: not checked). */
  syntaxOk: boolean | null;
  /** Lower-cased table -> column names of the database (null: not read). */
  schema: Map<string, Set<string>> | null;
}

export interface ComponentValue {
  value: number;
  detail?: Record<string, unknown>;
}

/** A component's parameters, from the design (YAML `params`), plus `template` ('plain' | 'think'). */
export type ComponentParams = Record<string, number | boolean | string | undefined>;
type Params = ComponentParams;
export type ComponentFn = (ctx: RewardContext, params: Params) => ComponentValue;
/** A custom component from a reward module: like a built-in, and it may return a promise. */
export type RewardComponent = (ctx: RewardContext, params: ComponentParams) => ComponentValue | Promise<ComponentValue>;

const num = (p: Params, k: string, d: number) => (typeof p[k] === 'number' ? (p[k] as number) : d);

/** A value per verdict (defaults: 1 for a match, 0 otherwise; `refused` and `timeout` default to `error`'s value). */
function verdictValue(ctx: RewardContext, p: Params): ComponentValue {
  const table: Record<Verdict, number> = {
    match: num(p, 'match', 1),
    mismatch: num(p, 'mismatch', 0),
    error: num(p, 'error', 0),
    refused: num(p, 'refused', num(p, 'error', 0)),
    timeout: num(p, 'timeout', num(p, 'error', 0)),
    too_large: num(p, 'too_large', num(p, 'mismatch', 0)),
    gold_error: num(p, 'gold_error', 0),
    no_sql: num(p, 'no_sql', num(p, 'error', 0)),
    // Never scored: the scorer leaves infrastructure failures out before any component runs.
    infra_error: 0,
    db_missing: 0,
  };
  return { value: table[ctx.verdict], detail: { verdict: ctx.verdict } };
}

/** Execution outcome mapped to a value per verdict. */
export const execution: ComponentFn = verdictValue;

/**
 * The same table as `execution` under its own name, so a design reports a second execution-derived term
 * separately (SQL-R1: execution ±2 for running, result ±3 for matching).
 */
export const result: ComponentFn = verdictValue;

/** SQLite accepts the statement (prepared): `valid` / `invalid` values. */
export const syntax: ComponentFn = (ctx, p) => {
  const ok = ctx.syntaxOk ?? (ctx.pred?.kind === 'rows' || ctx.pred?.kind === 'timeout' || ctx.pred?.kind === 'too_large');
  return { value: ok ? num(p, 'valid', 1) : num(p, 'invalid', 0), detail: { valid: ok } };
};

/** The format a template asks for: SQL-R1's think/answer rule, or (plain) a closed ```sql block. */
export function formatPasses(extraction: Extraction, template: 'plain' | 'think'): boolean {
  return template === 'plain' ? extraction.fenced : extraction.formatOk;
}

/** The required format (SQL-R1's think/answer rule, or a ```sql fence for the plain template). */
export const format: ComponentFn = (ctx, p) => {
  const ok = formatPasses(ctx.extraction, p.template === 'plain' ? 'plain' : 'think');
  return { value: ok ? num(p, 'ok', 1) : num(p, 'bad', 0), detail: { ok } };
};

/** Python's len: code points, not UTF-16 units (ANCHORS §9). */
export const codePoints = (s: string) => [...s].length;

/**
 * SQL-R1's length term, only on a match: L = len(think) + len(answer) in characters, limit 2048;
 * L <= limit: L / limit * 0.5 + len(sql) / len(answer), else 0.5 + len(sql) / len(answer).
 */
export const length: ComponentFn = (ctx, p) => {
  if (ctx.verdict !== 'match') return { value: 0 };
  const limit = num(p, 'limit', 2048);
  const think = ctx.extraction.think ?? '';
  const answer = ctx.extraction.answer ?? '';
  const sql = ctx.extraction.sql ?? '';
  const L = codePoints(think) + codePoints(answer);
  const ratio = codePoints(answer) > 0 ? codePoints(sql) / codePoints(answer) : 0;
  return { value: (L <= limit ? (L / limit) * 0.5 : 0.5) + ratio, detail: { chars: L, sqlShare: ratio } };
};

/** Schema hallucination: count of table/column names the database lacks; value = count × `perName` (default −0.5). */
export const hallucination: ComponentFn = (ctx, p) => {
  if (!ctx.extraction.sql || !ctx.schema) return { value: 0, detail: { names: [] } };
  const names = hallucinatedNames(ctx.extraction.sql, ctx.schema);
  return { value: names.length * num(p, 'perName', -0.5), detail: { names } };
};

/** Seed 000: Jaccard of all clause components (prediction vs gold); `onlyIfWrong` (default) gives 0 on a match. */
export const structuralJaccard: ComponentFn = (ctx, p) => {
  if (!ctx.extraction.sql) return { value: 0 };
  if (p.onlyIfWrong !== false && ctx.verdict === 'match') return { value: 0 };
  const v = jaccard(componentSet(clauseComponents(ctx.extraction.sql)), componentSet(clauseComponents(ctx.goldSql)));
  return { value: v, detail: { jaccard: v } };
};

/**
 * Seed 004: per-clause match, SELECT / WHERE / JOIN weighted (0.3 / 0.3 / 0.2 by default); each clause
 * scores the Jaccard of its items (1 when both have none).
 */
export const structuralClauses: ComponentFn = (ctx, p) => {
  if (!ctx.extraction.sql) return { value: 0 };
  const a = clauseComponents(ctx.extraction.sql);
  const b = clauseComponents(ctx.goldSql);
  const s = jaccard(a.select, b.select);
  const w = jaccard(a.where, b.where);
  const j = jaccard([...a.from, ...a.join], [...b.from, ...b.join]);
  return { value: num(p, 'select', 0.3) * s + num(p, 'where', 0.3) * w + num(p, 'join', 0.2) * j, detail: { select: s, where: w, join: j } };
};

/** F1 between predicted and gold rows as multisets (seed 002's partial credit); `onlyIfMismatch` (default). */
export function rowsF1(gold: SqlValue[][], pred: SqlValue[][]): number {
  if (gold.length === 0 && pred.length === 0) return 1;
  if (gold.length === 0 || pred.length === 0) return 0;
  const key = (r: SqlValue[]) => r.map(pyValueKey).join('\u0001');
  const counts = new Map<string, number>();
  for (const r of gold) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
  let hit = 0;
  for (const r of pred) {
    const c = counts.get(key(r)) ?? 0;
    if (c > 0) {
      hit++;
      counts.set(key(r), c - 1);
    }
  }
  if (hit === 0) return 0;
  const precision = hit / pred.length;
  const recall = hit / gold.length;
  return (2 * precision * recall) / (precision + recall);
}

export const resultF1: ComponentFn = (ctx, p) => {
  if (ctx.pred?.kind !== 'rows' || ctx.gold?.kind !== 'rows') return { value: 0 };
  if (p.onlyIfMismatch !== false && ctx.verdict !== 'mismatch') return { value: 0 };
  const f1 = rowsF1(ctx.gold.rows, ctx.pred.rows);
  return { value: f1, detail: { f1 } };
};

/** Seed 003: Jaccard of normalized tokens, shifted by `offset` (default −0.2: range −0.2 .. 0.8). */
export const tokenJaccard: ComponentFn = (ctx, p) => {
  if (!ctx.extraction.sql) return { value: num(p, 'offset', -0.2) };
  const j = jaccard(sqlTokens(ctx.extraction.sql), sqlTokens(ctx.goldSql));
  return { value: j + num(p, 'offset', -0.2), detail: { jaccard: j } };
};

export const COMPONENTS: Record<string, ComponentFn> = {
  execution,
  result,
  syntax,
  format,
  length,
  hallucination,
  structural_jaccard: structuralJaccard,
  structural_clauses: structuralClauses,
  result_f1: resultF1,
  token_jaccard: tokenJaccard,
};
