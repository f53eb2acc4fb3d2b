// `sqlrl eval`: execution accuracy of predictions on a dataset (Spider, BIRD, JSONL, the bundled
// sample), overall, by hardness and by database, with a progress bar; JSON and HTML reports.
import { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { DATASETS, loadDataset, missingDatabases } from '../../data/datasets.js';
import { buildSampleDataset } from '../../data/sample.js';
import type { Example } from '../../data/types.js';
import { evaluatePredictions, type EvalReport } from '../../eval/execution-eval.js';
import { evalReportHtml } from '../../eval/html-report.js';
import { SqlExecutor } from '../../sql/executor.js';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';

export const DatasetFields = {
  dataset: z.enum(DATASETS).default('sample').describe('which loader: spider, bird, jsonl, or the bundled sample'),
  dataDir: z.string().optional().describe('Spider/BIRD folder (holding dev.json and the databases)'),
  split: z.string().default('dev').describe('dataset split: dev or train'),
  file: z.string().optional().describe('JSONL file of {question, db_id|db_path, sql} for --dataset jsonl'),
  dbDir: z.string().optional().describe('folder of the SQLite databases (default: the dataset\'s own layout)'),
  limit: z.number().int().positive().optional().describe('evaluate only the first N examples'),
};

export const ExecFields = {
  mode: z.enum(['spider', 'bird', 'strict']).default('spider').describe('result comparison: spider (official test-suite exec semantics), bird (set equality), strict (keeps DISTINCT, whole text)'),
  timeout: z.number().positive().default(30).describe('per-query timeout in seconds (the query\'s worker is killed past it)'),
  workers: z.number().int().positive().optional().describe('sandbox worker processes (default: one per core)'),
  skipMissingDb: z.boolean().default(false).describe('leave out examples whose database file is missing (counted under skipped) instead of failing'),
};

export const EvalOptions = z.object({
  ...DatasetFields,
  ...ExecFields,
  pred: z.string().optional().describe('predictions file: one SQL per line in dataset order (Spider submission format); default for --dataset sample: its bundled predictions'),
  model: z.string().optional().describe('evaluate a model on the CPU engine: a Hugging Face folder, a .gguf file or hf:ORG/NAME'),
  adapter: z.string().optional().describe('PEFT LoRA adapter folder applied to --model'),
  endpoint: z.string().optional().describe('evaluate an OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp, Ollama, sqlrl serve-model), e.g. http://localhost:8000/v1'),
  endpointModel: z.string().default('default').describe('model name sent to the endpoint'),
  apiKeyEnv: z.string().default('OPENAI_API_KEY').describe('environment variable holding the endpoint API key'),
  concurrency: z.number().int().positive().default(8).describe('requests in flight to the endpoint'),
  template: z.enum(['plain', 'think', 'compact']).default('plain').describe("prompt template (shared with training); think prefills '<think>\\n' in the assistant turn (an endpoint gets it as a final assistant message with continue_final_message, as vLLM and SGLang take it)"),
  n: z.number().int().positive().default(1).describe('samples per question for self-consistency voting and pass@k (OmniSQL: 8); 1 = greedy only'),
  temperature: z.number().min(0).default(0.8).describe('sampling temperature of the n samples (greedy is always T=0)'),
  maxTokens: z.number().int().positive().default(512).describe('completion tokens'),
  cache: z.string().optional().describe('JSONL of finished generations: an interrupted run resumes from it (default: beside --report)'),
  seed: z.number().int().default(0).describe('sampling seed'),
  report: z.string().optional().describe('write the JSON report (summary + per-example verdicts) to this file'),
  html: z.string().optional().describe('write a self-contained HTML report to this file'),
  quiet: z.boolean().default(false).describe('no progress bar'),
});
export type EvalOptions = z.infer<typeof EvalOptions>;

/** One SQL per line; a Spider gold-style `SQL<TAB>db_id` line keeps the SQL part; blank lines are "no SQL". */
export function readPredictionFile(file: string): (string | null)[] {
  if (!existsSync(file)) throw new UsageError(`predictions file '${file}' not found (pass --pred FILE with one SQL per line)`);
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => {
    const sql = l.split('\t')[0]!.trim();
    return sql ? sql : null;
  });
}

export function loadExamples(opts: Pick<EvalOptions, 'dataset' | 'dataDir' | 'split' | 'file' | 'dbDir' | 'limit'>): Example[] {
  let examples: Example[];
  try {
    examples = loadDataset({
      dataset: opts.dataset,
      split: opts.split,
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.file ? { file: opts.file } : {}),
      ...(opts.dbDir ? { dbDir: opts.dbDir } : {}),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return opts.limit ? examples.slice(0, opts.limit) : examples;
}

/** Fails with one line naming the first missing database unless skipping was asked for. */
export function checkDatabases(examples: Example[], skip: boolean): Set<string> {
  const missing = missingDatabases(examples);
  const paths = new Set(missing.map((e) => e.dbPath));
  if (missing.length > 0 && !skip) {
    const first = missing[0]!;
    throw new UsageError(
      `database file '${first.dbPath}' not found (${missing.length} example${missing.length > 1 ? 's' : ''} in ${paths.size} database${paths.size > 1 ? 's' : ''}; pass --db-dir, or --skip-missing-db to leave them out)`,
    );
  }
  return paths;
}

export function progressBar(total: number, quiet: boolean, label = 'eval'): { update(done: number, extra: Record<string, string>): void; stop(): void } {
  if (quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} | {stats} | {eta_formatted} left`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { stats: '' });
  return { update: (done, extra) => bar.update(done, extra), stop: () => bar.stop() };
}

export function formatReport(report: EvalReport): string {
  const s = report.summary;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(7);
  const lines = [`execution accuracy ${pct(s.execution_accuracy).trim()}  (${s.evaluated} evaluated of ${s.total}, mode ${s.mode}${s.skipped.db_missing ? `, ${s.skipped.db_missing} skipped: database missing` : ''})`];
  lines.push('', `${'hardness'.padEnd(22)} ${'n'.padStart(5)} ${'EX'.padStart(7)}`);
  for (const [k, b] of Object.entries(s.by_hardness)) lines.push(`${k.padEnd(22)} ${String(b.n).padStart(5)} ${pct(b.execution_accuracy)}`);
  lines.push('', `${'database'.padEnd(22)} ${'n'.padStart(5)} ${'EX'.padStart(7)}`);
  for (const [k, b] of Object.entries(s.by_db)) lines.push(`${k.padEnd(22)} ${String(b.n).padStart(5)} ${pct(b.execution_accuracy)}`);
  const errs = Object.entries(s.errors);
  if (errs.length) lines.push('', `not matched: ${errs.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return lines.join('\n') + '\n';
}

export function writeReports(report: EvalReport, jsonPath: string | undefined, htmlPath: string | undefined, title: string): void {
  for (const [path, text] of [
    [jsonPath, () => JSON.stringify(report, null, 1)],
    [htmlPath, () => evalReportHtml(report, title)],
  ] as const) {
    if (!path) continue;
    mkdirSync(dirname(resolve(path)), { recursive: true });
    writeFileSync(path, text());
  }
}

export async function runEval(opts: EvalOptions): Promise<EvalReport> {
  const sources = [opts.pred, opts.model, opts.endpoint].filter(Boolean).length;
  if (sources > 1) throw new UsageError('pass only one of --pred, --model and --endpoint');
  if (opts.model || opts.endpoint) return runGenerationEval(opts);
  const examples = loadExamples(opts);
  const predFile = opts.pred ?? (opts.dataset === 'sample' ? buildSampleDataset().predictionsFile : undefined);
  if (!predFile) throw new UsageError('--pred is required: a file with one SQL per line, in dataset order');
  let predictions = readPredictionFile(predFile);
  if (opts.limit) predictions = predictions.slice(0, opts.limit);
  if (predictions.length !== examples.length) {
    throw new UsageError(`predictions file '${predFile}' has ${predictions.length} lines but the dataset has ${examples.length} examples (one SQL per line, in dataset order)`);
  }
  const missing = checkDatabases(examples, opts.skipMissingDb);
  const executor = new SqlExecutor({ timeoutMs: opts.timeout * 1000, ...(opts.workers ? { workers: opts.workers } : {}) });
  const bar = progressBar(examples.length, opts.quiet);
  try {
    return await evaluatePredictions({
      examples,
      predictions,
      executor,
      mode: opts.mode,
      skipMissingDb: opts.skipMissingDb,
      missingDbPaths: missing,
      onProgress: (done, correct) => bar.update(done, { stats: `EX ${((100 * correct) / done).toFixed(1)}%` }),
    });
  } finally {
    bar.stop();
    await executor.close();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('Execution accuracy of predictions on Spider, BIRD, a JSONL dataset or the bundled sample.');
  addSchemaOptions(cmd, EvalOptions);
  cmd.action(async () => {
    const opts = resolveOptions(cmd, EvalOptions);
    const report = await runEval(opts);
    process.stdout.write(formatReport(report));
    const sc = (report.summary as { self_consistency?: { n: number; temperature: number; execution_accuracy: number; pass_at_k: Record<string, number> } }).self_consistency;
    if (sc) {
      process.stdout.write(`\nself-consistency (n=${sc.n}, T=${sc.temperature}, vote by execution result): EX ${(100 * sc.execution_accuracy).toFixed(1)}%  (greedy ${(100 * report.summary.execution_accuracy).toFixed(1)}%)\n`);
      process.stdout.write(`pass@k: ${Object.entries(sc.pass_at_k).map(([k, v]) => `@${k} ${(100 * v).toFixed(1)}%`).join('  ')}\n`);
    }
    writeReports(report, opts.report, opts.html, `sqlrl eval: ${opts.dataset} ${opts.split}`);
  });
}

/** Generation-based evaluation: the CPU engine (--model) or an OpenAI-compatible endpoint (--endpoint). */
export async function runGenerationEval(opts: EvalOptions): Promise<EvalReport> {
  const examples = loadExamples(opts);
  const missing = checkDatabases(examples, opts.skipMissingDb);
  const { evaluateGenerator } = await import('../../eval/generate-eval.js');
  const { promptMessages, templatePrefill } = await import('../../data/prompt.js');
  const { extractSql } = await import('../../reward/extract.js');
  let generator;
  if (opts.model) {
    const { CpuPolicy } = await import('../../engine/policy.js');
    const { PolicyGenerator } = await import('../../eval/native-generator.js');
    let policy;
    try {
      policy = await CpuPolicy.load(opts.model, opts.adapter ? { adapterDir: opts.adapter } : {});
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (!opts.quiet) process.stderr.write(`sqlrl eval: ${policy.describe()}\n`);
    generator = new PolicyGenerator(policy, `model:${opts.model}${opts.adapter ? `+${opts.adapter}` : ''}`);
  } else {
    const { EndpointGenerator } = await import('../../eval/generators.js');
    generator = new EndpointGenerator({ baseURL: opts.endpoint!, model: opts.endpointModel, apiKey: process.env[opts.apiKeyEnv], concurrency: opts.concurrency });
  }
  const cacheFile = opts.cache ?? (opts.report ? resolve(dirname(resolve(opts.report)), 'generations.jsonl') : null);
  const executor = new SqlExecutor({ timeoutMs: opts.timeout * 1000, ...(opts.workers ? { workers: opts.workers } : {}) });
  const bar = progressBar(examples.length, opts.quiet, 'generate');
  try {
    return await evaluateGenerator({
      examples,
      generator,
      messages: (ex) => promptMessages(ex, { template: opts.template }),
      extract: (c) => extractSql(c).sql,
      prefill: templatePrefill(opts.template),
      executor,
      mode: opts.mode,
      maxTokens: opts.maxTokens,
      n: opts.n,
      temperature: opts.temperature,
      seed: opts.seed,
      cacheFile,
      skipMissingDb: opts.skipMissingDb,
      missingDbPaths: missing,
      onCached: (cached, total) => {
        if (cached > 0 && !opts.quiet) process.stderr.write(`sqlrl eval: resuming: ${cached} of ${total} generations from ${cacheFile}\n`);
      },
      onProgress: (phase, done) => bar.update(done, { stats: phase }),
    });
  } finally {
    bar.stop();
    await executor.close();
  }
}
