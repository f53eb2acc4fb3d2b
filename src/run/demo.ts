// The demo: the whole story on a laptop CPU in minutes. Generate the built-in benchmark, build a
// small Llama from scratch (tokenizer fitted to the benchmark), SFT it, evaluate, GRPO from the SFT
// model with execution rewards, evaluate again, and print and save the before/after comparison.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { generateSynth, loadSynth } from '../data/synth.js';
import { promptMessages } from '../data/prompt.js';
import type { Example } from '../data/types.js';
import { createScratchModel } from '../engine/init.js';
import { CpuPolicy } from '../engine/policy.js';
import { evaluateGenerator } from '../eval/generate-eval.js';
import { comparisonHtml } from '../eval/html-report.js';
import { PolicyGenerator } from '../eval/native-generator.js';
import { compareRuns, pairReports } from '../eval/run-compare.js';
import { extractSql } from '../reward/extract.js';
import { SftConfig, TrainConfig } from './config.js';
import { SqlExecutor } from '../sql/executor.js';
import type { EvalMetrics } from '../interfaces/metrics.js';
import { RunDir } from '../rl/run-dir.js';
import { UsageError } from '../errors.js';
import { runSft, runTrain } from './train.js';

export const DemoConfig = z
  .object({
    output: z.string().default('runs/demo').describe('where the demo writes its model, runs and report'),
    seed: z.number().int().default(0).describe('seed of the model initialisation, data order and sampling'),
    sftSteps: z.number().int().positive().default(1200).describe('SFT steps (batch 16)'),
    grpoSteps: z.number().int().positive().default(200).describe('GRPO steps (8 prompts × 8 completions)'),
    evalLimit: z.number().int().positive().optional().describe('held-out examples to evaluate (default: all)'),
    force: z.boolean().default(false).describe('delete an existing output folder first'),
    quiet: z.boolean().default(false).describe('no progress bars'),
  })
  .strict();
export type DemoConfig = z.infer<typeof DemoConfig>;

export const DEMO_MODEL = { vocabSize: 1024, hiddenSize: 128, numLayers: 4, numHeads: 4, numKvHeads: 2, intermediateSize: 352, maxPositions: 512 };

async function evalModel(dir: string, examples: Example[], executor: SqlExecutor, label: string, adapterDir?: string) {
  const policy = await CpuPolicy.load(dir, adapterDir ? { adapterDir } : {});
  return evaluateGenerator({
    examples,
    generator: new PolicyGenerator(policy, label),
    messages: (ex) => promptMessages(ex, { template: 'compact' }),
    extract: (c) => extractSql(c).sql,
    executor,
    mode: 'strict',
    maxTokens: 64,
  });
}

export async function runDemo(o: DemoConfig): Promise<{ sftEx: number; grpoEx: number; report: string }> {
  const out = resolve(o.output);
  if (existsSync(out)) {
    if (!o.force) throw new UsageError(`output folder '${out}' exists (pass --force to replace it, or --output elsewhere)`);
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();
  const say = (s: string) => process.stderr.write(`sqlrl demo: ${s}\n`);
  // 1. the benchmark (fixed: seed 0) and the model built from scratch
  const bench = generateSynth({ seed: 0 });
  const train = loadSynth('train');
  const held = loadSynth('heldout');
  const evalSet = o.evalLimit ? held.slice(0, o.evalLimit) : held;
  const rlCount = loadSynth('rl').length;
  say(`built-in benchmark: ${train.length} SFT questions, ${rlCount} RL prompts (other instances; gold SQL used only through the execution reward), ${held.length} held-out (unseen instances + the unseen 'library' database) in ${bench.dir}`);
  const modelDir = join(out, 'model');
  const corpus = [...train, ...held].flatMap((e) => [promptMessages(e, { template: 'compact' })[0]!.content, e.goldSql]);
  const cfg = createScratchModel(modelDir, corpus, { ...DEMO_MODEL, seed: o.seed });
  say(`model: Llama, ${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, vocabulary ${cfg.vocabSize} (byte-level BPE fitted to the benchmark), random init, in ${modelDir}`);
  const common = { dataset: 'builtin' as const, template: 'compact' as const, seed: o.seed, quiet: o.quiet, evalLimit: evalSet.length, evalSplit: 'heldout' };
  // 2. SFT from scratch
  say(`SFT: ${o.sftSteps} steps of 16 examples`);
  const sftOpts = SftConfig.parse({ ...common, train: 'full', model: modelDir, output: join(out, 'sft'), maxSteps: o.sftSteps, batchSize: 16, learningRate: 2e-3, warmupRatio: 0.05, evalEvery: 0, saveEvery: 0 });
  await runSft(sftOpts);
  // 3. GRPO from the SFT model
  say(`GRPO: ${o.grpoSteps} steps on the RL prompts, 8 prompts × 8 completions, LoRA r16 on the SFT model, reward arctic with lenient extraction (the compact template's answers are bare SQL; 1 correct / 0.1 runs / 0 fails), strict comparison`);
  const grpoOpts = TrainConfig.parse({
    ...common,
    model: join(out, 'sft', 'final'),
    output: join(out, 'grpo'),
    reward: 'arctic',
    rewardExtract: 'lenient' as const,
    split: 'rl',
    maxSteps: o.grpoSteps,
    batchSize: 8,
    numGenerations: 8,
    temperature: 1,
    maxCompletionLength: 64,
    train: 'lora',
    loraR: 16,
    loraAlpha: 32,
    learningRate: 5e-4,
    lrSchedule: 'constant',
    warmupRatio: 0,
    evalEvery: 0,
    saveEvery: 20,
    beta: 0,
    lossType: 'dapo',
  });
  await runTrain(grpoOpts);
  // 4. before / after on the held-out split
  const executor = new SqlExecutor({ timeoutMs: 10_000 });
  try {
    const before = await evalModel(join(out, 'sft', 'final'), evalSet, executor, 'sft');
    const after = await evalModel(join(out, 'sft', 'final'), evalSet, executor, 'sft+grpo', join(out, 'grpo', 'final'));
    writeFileSync(join(out, 'eval-sft.json'), JSON.stringify(before, null, 1));
    // the GRPO run's held-out curve (dashboard): the SFT model at step 0, the trained one at the last step
    const grpoRun = new RunDir(join(out, 'grpo'));
    const minutesSoFar = (performance.now() - t0) / 60000;
    for (const [step, r] of [
      [0, before],
      [o.grpoSteps, after],
    ] as const)
      grpoRun.appendMetrics({ step, time: minutesSoFar * 60, kind: 'eval', ex: r.summary.execution_accuracy, n: r.summary.evaluated, split: 'heldout' } satisfies EvalMetrics);
    writeFileSync(join(out, 'eval-grpo.json'), JSON.stringify(after, null, 1));
    const paired = pairReports(before.examples, after.examples, 'db');
    const cmp = compareRuns(paired, o.seed);
    writeFileSync(join(out, 'report.html'), comparisonHtml({ a: 'SFT', b: 'SFT + GRPO', overall: cmp.overall, byBucket: cmp.byBucket, examples: paired }));
    const minutes = (performance.now() - t0) / 60000;
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(7);
    const lines = [
      '',
      `held-out execution accuracy (${evalSet.length} questions, greedy, strict comparison)`,
      `${'database'.padEnd(12)} ${'n'.padStart(4)} ${'SFT'.padStart(7)} ${'+GRPO'.padStart(7)}`,
      ...Object.entries(cmp.byBucket).map(([k, d]) => `${k.padEnd(12)} ${String(d.n).padStart(4)} ${pct(d.accA)} ${pct(d.accB)}`),
      `${'all'.padEnd(12)} ${String(cmp.overall.n).padStart(4)} ${pct(cmp.overall.accA)} ${pct(cmp.overall.accB)}   delta ${(100 * cmp.overall.delta).toFixed(1)} points (95% CI ${(100 * cmp.overall.ci95[0]).toFixed(1)} .. ${(100 * cmp.overall.ci95[1]).toFixed(1)}); fixed ${cmp.overall.fixed}, broken ${cmp.overall.broken}`,
      '',
      `finished in ${minutes.toFixed(1)} min; report: ${join(out, 'report.html')}; runs: ${join(out, 'sft')}, ${join(out, 'grpo')} (sqlrl dashboard ${join(out, 'grpo')})`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    writeFileSync(join(out, 'report.json'), JSON.stringify({ seed: o.seed, minutes, heldout: evalSet.length, sft_ex: cmp.overall.accA, grpo_ex: cmp.overall.accB, delta: cmp.overall.delta, ci95: cmp.overall.ci95, by_db: cmp.byBucket }, null, 2));
    return { sftEx: cmp.overall.accA, grpoEx: cmp.overall.accB, report: join(out, 'report.json') };
  } finally {
    await executor.close();
  }
}

