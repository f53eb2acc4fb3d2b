// What `sqlrl train`, `sqlrl sft` and `sqlrl demo` share: validating the run before anything is
// written, building the CPU policy, prompts, the held-out evaluator, the progress bar, the dashboard.
import { existsSync, readdirSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { loadDataset } from '../../data/datasets.js';
import { promptMessages, targetText, type PromptTemplate } from '../../data/prompt.js';
import type { Example } from '../../data/types.js';
import { CpuPolicy } from '../../engine/policy.js';
import { loadModel, type LoadedModel } from '../../engine/io/load.js';
import { extractSql } from '../../reward/extract.js';
import { evaluateGenerator } from '../../eval/generate-eval.js';
import { PolicyGenerator } from '../../eval/native-generator.js';
import type { SqlExecutor } from '../../sql/executor.js';
import type { Policy } from '../../interfaces/policy.js';
import { RunDir } from '../../rl/run-dir.js';
import { z } from 'zod';
import { CommonRunFields } from '../../rl/config.js';
import { UsageError } from '../../errors.js';

const CommonSchema = z.object(CommonRunFields);
type Common = z.infer<typeof CommonSchema>;

export function loadSplit(o: Pick<Common, 'dataset' | 'dataDir' | 'file' | 'dbDir'>, split: string, limit?: number): Example[] {
  let ex: Example[];
  try {
    ex = loadDataset({ dataset: o.dataset, split, ...(o.dataDir ? { dataDir: o.dataDir } : {}), ...(o.file ? { file: o.file } : {}), ...(o.dbDir ? { dbDir: o.dbDir } : {}) });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const missing = ex.filter((e) => !existsSync(e.dbPath));
  ex = ex.filter((e) => existsSync(e.dbPath));
  if (!ex.length) throw new UsageError(`no usable examples in split '${split}'${missing.length ? ` (${missing.length} have no database file, e.g. ${missing[0]!.dbPath})` : ''}`);
  return limit ? ex.slice(0, limit) : ex;
}

/** The output directory is new or empty, or --resume finds a checkpoint there. */
export function checkOutputDir(dir: string, resume: boolean): RunDir {
  const run = new RunDir(dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    if (!resume) throw new UsageError(`output directory '${dir}' is not empty (pass --resume to continue its run, or choose a new --output)`);
  } else if (resume) throw new UsageError(`--resume: '${dir}' holds no run to continue`);
  return run;
}

export async function loadModelOrExplain(spec: string): Promise<LoadedModel> {
  try {
    return await loadModel(spec);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function buildPolicy(loaded: LoadedModel, o: Common & { weightDecay: number }, kind: 'lora' | 'full', learningRate: number): CpuPolicy {
  return CpuPolicy.fromLoaded(loaded, {
    train: kind === 'full' ? { kind: 'full' } : { kind: 'lora', lora: { r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targetModules: o.loraTargets } },
    ...(o.init && kind === 'lora' ? { adapterDir: o.init } : {}),
    optimizer: { lr: learningRate, weightDecay: o.weightDecay },
    maxGradNorm: o.maxGradNorm,
    seed: o.seed,
    gradientCheckpointing: o.gradientCheckpointing,
  });
}

export function promptTokens(policy: Policy, template: PromptTemplate, maxPromptLength: number): (ex: Example) => number[] {
  const cache = new Map<string, number[]>();
  return (ex) => {
    let ids = cache.get(ex.id);
    if (!ids) {
      const text = policy.tokenizer.applyChatTemplate(promptMessages(ex, { template }), { addGenerationPrompt: true });
      ids = policy.tokenizer.encode(text);
      if (ids.length > maxPromptLength) ids = ids.slice(ids.length - maxPromptLength);
      cache.set(ex.id, ids);
    }
    return ids;
  };
}

/** SFT pairs: the prompt, and the template's answer for the gold SQL closed by the end-of-turn token. */
export function sftPairs(policy: Policy, template: PromptTemplate, maxPromptLength: number): (ex: Example) => { prompt: number[]; target: number[] } {
  const prompt = promptTokens(policy, template, maxPromptLength);
  const eos = policy.tokenizer.eosTokenIds[0];
  return (ex) => ({ prompt: prompt(ex), target: [...policy.tokenizer.encode(targetText(ex.goldSql, template)), ...(eos !== undefined ? [eos] : [])] });
}

export function heldOutEvaluator(policy: Policy, examples: Example[], template: PromptTemplate, executor: SqlExecutor, maxNewTokens: number, split: string) {
  return async () => {
    const gen = new PolicyGenerator(policy, 'policy');
    const report = await evaluateGenerator({
      examples,
      generator: gen,
      messages: (ex) => promptMessages(ex, { template }),
      extract: (c) => extractSql(c).sql,
      executor,
      mode: 'strict',
      maxTokens: maxNewTokens,
    });
    const byBucket = Object.fromEntries(Object.entries(report.summary.by_db).map(([k, v]) => [k, v.execution_accuracy]));
    return { ex: report.summary.execution_accuracy, n: report.summary.evaluated, split, by_bucket: byBucket };
  };
}

export function stepBar(total: number, quiet: boolean, label: string): { update(step: number, text: string): void; stop(): void } {
  if (quiet || !process.stderr.isTTY) {
    let last = 0;
    return {
      update(step, text) {
        // without a terminal: one line every ~10% so logs stay readable
        if (step === total || step - last >= Math.max(1, Math.round(total / 10))) {
          last = step;
          if (!quiet) process.stderr.write(`${label} ${step}/${total} ${text}\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} | {text} | {eta_formatted} left`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { text: '' });
  return { update: (step, text) => bar.update(step, { text }), stop: () => bar.stop() };
}

export async function maybeDashboard(enabled: boolean, dir: string, port: number): Promise<{ close(): Promise<void> } | null> {
  if (!enabled) return null;
  const { startDashboard } = await import('../../serve/dashboard/server.js');
  const d = await startDashboard({ runDirs: [dir], host: '127.0.0.1', port, pollMs: 500 });
  process.stderr.write(`sqlrl: dashboard at ${d.url}\n`);
  return d;
}
