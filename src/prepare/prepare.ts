// `sqlrl prepare`: a dataset written out as training files for the GPU engines, one row per runnable
// example (its database exists and its gold SQL executes), with the prompts sqlrl itself trains and
// evaluates on. Long prompts are checked against the trainer's limit in the trainer's tokens and never
// cut (data/prompt-fit.ts). The files are written beside a temporary name and renamed when complete,
// so a failed run leaves nothing half-written; a summary (`<split>.<format>.summary.json`) says what was kept,
// what was left out and why.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset, missingDatabases, type DatasetName } from '../data/datasets.js';
import { fitPrompts, type LongPrompts } from '../data/prompt-fit.js';
import { promptMessages, type ChatMessage, type PromptTemplate } from '../data/prompt.js';
import type { Example } from '../data/types.js';
import { UsageError } from '../errors.js';
import type { Tokenizer } from '../interfaces/policy.js';
import { SqlExecutor } from '../sql/executor.js';
import { VerlParquetWriter } from './parquet.js';
import { openRlhfRow, trlRow, verlRow, type ExportFormat, type GroundTruthKind } from './rows.js';
import { loadPromptTokenizer, promptTokens } from './tokenizer.js';

export interface PrepareOptions {
  dataset: DatasetName;
  dataDir?: string;
  split: string;
  file?: string;
  dbDir?: string;
  /** Skip the first N examples (after the difficulty filter), e.g. to cut a held-out split from one file. */
  offset?: number;
  /** Keep N examples (after the offset, before any example is left out). */
  limit?: number;
  /** Keep examples whose difficulty label (BIRD difficulty, SynSQL sql_complexity) is one of these. */
  difficulty?: string[];
  template: PromptTemplate;
  /** Example values per column in the schema (OmniSQL: 2). */
  samples: number;
  format: ExportFormat;
  output: string;
  groundTruth: GroundTruthKind;
  /** Model whose tokenizer counts prompt tokens (folder, .gguf, hf:ORG/NAME); none: lengths unchecked. */
  tokenizer?: string;
  maxPromptLength: number;
  longPrompts: LongPrompts;
  /** Run each gold SQL and leave out the ones that fail (error, timeout, too large). */
  checkGold: boolean;
  /** Also leave out gold SQL returning no rows (Arctic-Text2SQL-R1 filters them: an empty result rewards empty answers). */
  dropEmptyGold: boolean;
  timeout: number;
  workers?: number;
  force: boolean;
}

export interface LeftOut {
  id: string;
  reason: 'database_missing' | 'gold_error' | 'gold_timeout' | 'gold_too_large' | 'gold_empty' | 'prompt_too_long';
  detail?: string;
}

export interface PrepareSummary {
  format: ExportFormat;
  dataset: string;
  split: string;
  template: PromptTemplate;
  ground_truth: GroundTruthKind;
  file: string;
  rows: number;
  loaded: number;
  left_out: Record<LeftOut['reason'], number>;
  prompt_tokens: { tokenizer: string; max_prompt_length: number; longest: number; long_prompts: LongPrompts } | null;
  longest_prompt_chars: number;
  examples_left_out: LeftOut[];
}

const BATCH = 1000;

export function outputFiles(output: string, split: string, format: ExportFormat): { data: string; summary: string } {
  const dir = resolve(output);
  return { data: join(dir, `${split}.${format === 'verl' ? 'parquet' : 'jsonl'}`), summary: join(dir, `${split}.${format}.summary.json`) };
}

function load(opts: PrepareOptions): Example[] {
  const offset = opts.offset ?? 0;
  const end = opts.limit !== undefined ? offset + opts.limit : undefined;
  let examples: Example[];
  try {
    examples = loadDataset({
      dataset: opts.dataset,
      split: opts.split,
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.file ? { file: opts.file } : {}),
      ...(opts.dbDir ? { dbDir: opts.dbDir } : {}),
      // SynSQL filters and stops while streaming its file; the others are filtered and sliced below.
      ...(end !== undefined ? { limit: end } : {}),
      ...(opts.difficulty ? { complexity: opts.difficulty } : {}),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (opts.difficulty) {
    const wanted = new Set(opts.difficulty.map((d) => d.toLowerCase()));
    examples = examples.filter((e) => e.difficulty !== undefined && wanted.has(e.difficulty.toLowerCase()));
  }
  return examples.slice(offset, end);
}

/** Examples whose gold SQL runs (and returns rows, when asked); the others with the reason. */
async function runnableGold(examples: Example[], opts: PrepareOptions): Promise<{ kept: Example[]; leftOut: LeftOut[] }> {
  const executor = new SqlExecutor({ timeoutMs: opts.timeout * 1000, ...(opts.workers ? { workers: opts.workers } : {}) });
  try {
    const results = await Promise.all(examples.map((e) => executor.executeGold(e.dbPath, e.goldSql)));
    const kept: Example[] = [];
    const leftOut: LeftOut[] = [];
    results.forEach((r, i) => {
      const e = examples[i]!;
      if (r.kind === 'error') leftOut.push({ id: e.id, reason: 'gold_error', detail: r.message });
      else if (r.kind === 'db_missing') leftOut.push({ id: e.id, reason: 'database_missing', detail: r.message });
      else if (r.kind === 'infra_error') throw new Error(`the SQL sandbox failed on the gold SQL of ${e.id}: ${r.message}`);
      else if (r.kind === 'timeout') leftOut.push({ id: e.id, reason: 'gold_timeout', detail: `over ${opts.timeout} s` });
      else if (r.kind === 'too_large') leftOut.push({ id: e.id, reason: 'gold_too_large', detail: `over the ${r.limit} cap` });
      else if (opts.dropEmptyGold && r.rows.length === 0) leftOut.push({ id: e.id, reason: 'gold_empty' });
      else kept.push(e);
    });
    return { kept, leftOut };
  } finally {
    await executor.close();
  }
}

/** Appends rows of one format to a file, in batches. */
interface RowSink {
  write(examples: Example[], prompts: ChatMessage[][]): void;
  close(): void;
}

function sink(file: string, opts: PrepareOptions): RowSink {
  const ctx = { dataset: opts.dataset, split: opts.split, groundTruth: opts.groundTruth };
  if (opts.format === 'verl') {
    const w = new VerlParquetWriter(file);
    return { write: (ex, pr) => w.write(ex.map((e, i) => verlRow(e, pr[i]!, ctx))), close: () => w.close() };
  }
  writeFileSync(file, '');
  const line = opts.format === 'trl' ? (e: Example, p: ChatMessage[]) => trlRow(e, p, opts.groundTruth) : (e: Example, p: ChatMessage[]) => openRlhfRow(e, p, ctx);
  return {
    write: (ex, pr) => writeFileSync(file, ex.map((e, i) => JSON.stringify(line(e, pr[i]!)) + '\n').join(''), { flag: 'a' }),
    close: () => {},
  };
}

export async function prepare(opts: PrepareOptions, log: (line: string) => void = () => {}): Promise<PrepareSummary> {
  const files = outputFiles(opts.output, opts.split, opts.format);
  for (const f of [files.data, files.summary]) {
    if (existsSync(f) && !opts.force) throw new UsageError(`'${f}' exists (pass --force to overwrite it, or another --output)`);
  }
  const tokenizer: Tokenizer | null = opts.tokenizer ? await loadPromptTokenizer(opts.tokenizer) : null;

  const loaded = load(opts);
  if (loaded.length === 0) throw new UsageError(`no examples in ${opts.dataset} ${opts.split}${opts.difficulty ? ` with difficulty ${opts.difficulty.join(', ')}` : ''}`);
  const leftOut: LeftOut[] = [];

  const missing = new Set(missingDatabases(loaded).map((e) => e.id));
  let examples = loaded.filter((e) => !missing.has(e.id));
  for (const e of loaded) if (missing.has(e.id)) leftOut.push({ id: e.id, reason: 'database_missing', detail: e.dbPath });
  if (examples.length === 0) throw new UsageError(`no database of ${opts.dataset} ${opts.split} was found (first: '${loaded[0]!.dbPath}'; pass --db-dir)`);
  if (missing.size > 0) log(`left out ${missing.size} example(s) whose database is missing (${[...new Set(loaded.filter((e) => missing.has(e.id)).map((e) => e.dbId))].slice(0, 5).join(', ')})`);

  if (opts.checkGold) {
    const gold = await runnableGold(examples, opts);
    examples = gold.kept;
    leftOut.push(...gold.leftOut);
    const counts = countReasons(gold.leftOut);
    const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k.replace('_', ' ')}`);
    log(parts.length ? `left out ${gold.leftOut.length} example(s) whose gold SQL does not run as required: ${parts.join(', ')}` : `every gold SQL runs (${examples.length})`);
  }

  const messages = (e: Example) => promptMessages(e, { template: opts.template, samples: opts.samples });
  let longestChars = 0;
  let promptTokenSummary: PrepareSummary['prompt_tokens'] = null;
  if (tokenizer) {
    const lengths = new Map<string, number>();
    for (const e of examples) {
      const m = messages(e);
      longestChars = Math.max(longestChars, chars(m));
      lengths.set(e.id, promptTokens(tokenizer, m));
    }
    const fit = fitPrompts(examples, (e) => lengths.get(e.id)!, opts.maxPromptLength, opts.longPrompts);
    examples = fit.kept;
    for (const e of fit.dropped) leftOut.push({ id: e.id, reason: 'prompt_too_long', detail: `${lengths.get(e.id)} tokens` });
    if (fit.dropped.length) log(`left out ${fit.dropped.length} example(s) whose prompt exceeds --max-prompt-length ${opts.maxPromptLength} (longest ${fit.longest} tokens)`);
    log(`prompt tokens (${opts.tokenizer}): longest ${fit.longest}, limit ${opts.maxPromptLength}`);
    promptTokenSummary = { tokenizer: opts.tokenizer!, max_prompt_length: opts.maxPromptLength, longest: fit.longest, long_prompts: opts.longPrompts };
  } else {
    log(`prompt lengths not checked against --max-prompt-length ${opts.maxPromptLength}: pass --tokenizer MODEL (a model folder, a .gguf file or hf:ORG/NAME) to count them in the model's tokens`);
  }
  if (examples.length === 0) throw new UsageError(`no example of ${opts.dataset} ${opts.split} is left to write (see the reasons above)`);

  mkdirSync(resolve(opts.output), { recursive: true });
  const tmp = `${files.data}.tmp-${process.pid}`;
  const out = sink(tmp, opts);
  try {
    for (let i = 0; i < examples.length; i += BATCH) {
      const batch = examples.slice(i, i + BATCH);
      const prompts = batch.map(messages);
      for (const p of prompts) longestChars = Math.max(longestChars, chars(p));
      out.write(batch, prompts);
    }
    out.close();
    renameSync(tmp, files.data);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }

  const summary: PrepareSummary = {
    format: opts.format,
    dataset: opts.dataset,
    split: opts.split,
    template: opts.template,
    ground_truth: opts.groundTruth,
    file: files.data,
    rows: examples.length,
    loaded: loaded.length,
    left_out: countReasons(leftOut),
    prompt_tokens: promptTokenSummary,
    longest_prompt_chars: longestChars,
    examples_left_out: leftOut,
  };
  writeFileSync(files.summary, JSON.stringify(summary, null, 1) + '\n');
  return summary;
}

function chars(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + m.content.length, 0);
}

function countReasons(list: LeftOut[]): Record<LeftOut['reason'], number> {
  const counts: Record<LeftOut['reason'], number> = { database_missing: 0, gold_error: 0, gold_timeout: 0, gold_too_large: 0, gold_empty: 0, prompt_too_long: 0 };
  for (const l of list) counts[l.reason]++;
  return counts;
}
