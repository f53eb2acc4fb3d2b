// One training row per example, in the shape each GPU engine reads. The prompt is the same chat that
// sqlrl trains and evaluates on; the ground truth carries what `sqlrl serve` needs to score a
// completion: the database id and gold SQL (self-contained: the server only needs the databases), or
// the example id (the server must load the same dataset and split).
//   verl      parquet: data_source, prompt (chat), ability, reward_model {style, ground_truth}, extra_info
//   TRL       JSONL: prompt (conversational) + the columns integrations/python's trl_reward_func reads
//   OpenRLHF  JSONL: input (chat, for --data.apply_chat_template) + label (for --data.label_key)
import type { ChatMessage } from '../data/prompt.js';
import type { Example } from '../data/types.js';

export const FORMATS = ['verl', 'trl', 'openrlhf'] as const;
export type ExportFormat = (typeof FORMATS)[number];

export const GROUND_TRUTHS = ['sql', 'id'] as const;
/** `sql`: JSON {"db_id", "gold_sql"}; `id`: the example id. */
export type GroundTruthKind = (typeof GROUND_TRUTHS)[number];

/** verl's `ability` column (free text, used only to group metrics). */
export const VERL_ABILITY = 'text2sql';

/** The label string both reward protocols accept (POST /v1/rewards `example_id`, OpenRLHF `labels`, verl `ground_truth`). */
export function groundTruth(example: Example, kind: GroundTruthKind): string {
  return kind === 'id' ? example.id : JSON.stringify({ db_id: example.dbId, gold_sql: example.goldSql });
}

export interface VerlRow {
  data_source: string;
  prompt: ChatMessage[];
  ability: string;
  reward_model: { style: 'rule'; ground_truth: string };
  extra_info: { split: string; index: number; example_id: string; db_id: string };
}

export function verlRow(example: Example, prompt: ChatMessage[], ctx: { dataset: string; split: string; groundTruth: GroundTruthKind }): VerlRow {
  return {
    data_source: ctx.dataset,
    prompt,
    ability: VERL_ABILITY,
    reward_model: { style: 'rule', ground_truth: groundTruth(example, ctx.groundTruth) },
    extra_info: { split: ctx.split, index: example.index, example_id: example.id, db_id: example.dbId },
  };
}

/**
 * TRL passes every dataset column except `prompt` to reward functions as keyword arguments; the
 * adapter scores by `example_id` when that column exists, else by `db_id` + `gold_sql`. So the row
 * carries exactly one of the two, as --ground-truth says.
 */
export type TrlRow = { prompt: ChatMessage[] } & ({ example_id: string } | { db_id: string; gold_sql: string });

export function trlRow(example: Example, prompt: ChatMessage[], kind: GroundTruthKind): TrlRow {
  return kind === 'id' ? { prompt, example_id: example.id } : { prompt, db_id: example.dbId, gold_sql: example.goldSql };
}

export interface OpenRlhfRow {
  input: ChatMessage[];
  label: string;
  /** OpenRLHF groups its per-source metrics by this key. */
  datasource: string;
}

export function openRlhfRow(example: Example, prompt: ChatMessage[], ctx: { dataset: string; groundTruth: GroundTruthKind }): OpenRlhfRow {
  return { input: prompt, label: groundTruth(example, ctx.groundTruth), datasource: ctx.dataset };
}
