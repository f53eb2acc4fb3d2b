// `sqlrl train` (GRPO) and `sqlrl sft`: validate the whole run first (nothing is written on a bad
// config), then train with metrics, samples, held-out EX, checkpoints, and exact resume.
import { Command } from 'commander';
import { join } from 'node:path';
import { RewardScorer } from '../../reward/scorer.js';
import { resolveDesign } from '../../reward/presets.js';
import { GRPO_DEFAULTS } from '../../rl/grpo.js';
import { SftOptions, TrainOptions } from '../../rl/config.js';
import { grpoTrain, sftTrain } from '../../rl/trainer.js';
import { SqlExecutor } from '../../sql/executor.js';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';
import { loadRewardConfig } from '../../reward/config.js';
import { buildPolicy, checkOutputDir, heldOutEvaluator, loadModelOrExplain, loadSplit, maybeDashboard, promptTokens, sftPairs, stepBar } from './training.js';

export async function runTrain(o: TrainOptions): Promise<{ finalEx: number | null; dir: string }> {
  const rewardCfg = loadRewardConfig(o.reward, o.rewardMode);
  try {
    resolveDesign(rewardCfg);
  } catch (err) {
    throw new UsageError(`--reward: ${(err as Error).message}`);
  }
  const examples = loadSplit(o, o.split, o.limit);
  const evalExamples = o.evalEvery >= 0 ? loadSplit(o, o.evalSplit, o.evalLimit) : [];
  const run = checkOutputDir(o.output, o.resume);
  const loaded = await loadModelOrExplain(o.model);
  const policy = buildPolicy(loaded, o, o.train, o.learningRate);
  if (o.init && o.train === 'full') await policy.loadCheckpoint(o.init);
  const executor = new SqlExecutor({ timeoutMs: o.sqlTimeout * 1000, ...(o.workers ? { workers: o.workers } : {}) });
  const scorer = new RewardScorer(executor, rewardCfg);
  if (!o.resume) run.create({ command: 'train', ...o, reward_design: scorer.design });
  process.stderr.write(`sqlrl train: ${policy.describe()}\nsqlrl train: ${examples.length} training prompts, reward ${scorer.design.name} (${scorer.design.mode}), K=${o.numGenerations}, output ${o.output}\n`);
  const dash = await maybeDashboard(o.dashboard, o.output, o.dashboardPort);
  const bar = stepBar(o.maxSteps, o.quiet, 'grpo');
  const evaluate = heldOutEvaluator(policy, evalExamples, o.template, executor, o.maxCompletionLength, o.evalSplit);
  let lastEx: number | null = null;
  try {
    const state = await grpoTrain(policy, {
      examples,
      promptOf: promptTokens(policy, o.template, o.maxPromptLength),
      scorer,
      numGenerations: o.numGenerations,
      batchSize: o.batchSize,
      temperature: o.temperature,
      topP: o.topP,
      maxCompletionLength: o.maxCompletionLength,
      numIterations: o.numIterations,
      grpo: {
        ...GRPO_DEFAULTS,
        epsilon: o.epsilon,
        ...(o.epsilonHigh !== undefined ? { epsilonHigh: o.epsilonHigh } : {}),
        beta: o.beta,
        klEstimator: o.klEstimator,
        lossType: o.lossType,
        maxCompletionLength: o.maxCompletionLength,
        scaleRewards: o.scaleRewards,
        maskTruncatedCompletions: o.maskTruncatedCompletions,
        dropZeroStdGroups: o.dropZeroStdGroups,
      },
      logGroups: o.logGroups,
      dynamicSampling: o.dynamicSampling,
      maxSampleBatches: o.maxSampleBatches,
      maxSteps: o.maxSteps,
      learningRate: o.learningRate,
      lrSchedule: o.lrSchedule,
      warmupSteps: Math.round(o.warmupRatio * o.maxSteps),
      seed: o.seed,
      evalEvery: o.evalEvery,
      saveEvery: o.saveEvery,
      run,
      evaluate: async (step) => {
        const r = await evaluate();
        lastEx = r.ex;
        process.stderr.write(`${o.quiet ? '' : '\n'}sqlrl train: step ${step}: held-out EX ${(100 * r.ex).toFixed(1)}% (${r.n} examples)\n`);
        return r;
      },
      onStep: (step, m) => bar.update(step, `reward ${(m.reward_mean as number).toFixed(3)} match ${(100 * (m.match_rate as number)).toFixed(0)}% len ${(m.completion_len_mean as number).toFixed(0)} ${((m.sec_sampling as number) + (m.sec_rewards as number) + (m.sec_update as number)).toFixed(1)}s`),
    });
    bar.stop();
    await policy.save(join(o.output, 'final'));
    run.writeReport({ command: 'train', steps: state.step, seconds: state.elapsed, heldout_ex: lastEx, final: join(o.output, 'final') });
  } finally {
    bar.stop();
    await executor.close();
    await dash?.close();
  }
  return { finalEx: lastEx, dir: o.output };
}

export async function runSft(o: SftOptions): Promise<{ finalEx: number | null; dir: string }> {
  const examples = loadSplit(o, o.split, o.limit);
  const evalExamples = loadSplit(o, o.evalSplit, o.evalLimit);
  const run = checkOutputDir(o.output, o.resume);
  const loaded = await loadModelOrExplain(o.model);
  const policy = buildPolicy(loaded, o, o.train, o.learningRate);
  if (o.init && o.train === 'full') await policy.loadCheckpoint(o.init);
  const maxSteps = o.epochs ? Math.max(1, Math.round((o.epochs * examples.length) / o.batchSize)) : o.maxSteps;
  const executor = new SqlExecutor({ timeoutMs: o.sqlTimeout * 1000, ...(o.workers ? { workers: o.workers } : {}) });
  if (!o.resume) run.create({ command: 'sft', ...o, maxSteps });
  process.stderr.write(`sqlrl sft: ${policy.describe()}\nsqlrl sft: ${examples.length} examples, ${maxSteps} steps of ${o.batchSize}, output ${o.output}\n`);
  const dash = await maybeDashboard(o.dashboard, o.output, o.dashboardPort);
  const bar = stepBar(maxSteps, o.quiet, 'sft');
  const evaluate = heldOutEvaluator(policy, evalExamples, o.template, executor, 256, o.evalSplit);
  let lastEx: number | null = null;
  try {
    const state = await sftTrain(policy, {
      examples,
      pairOf: sftPairs(policy, o.template, o.maxPromptLength),
      batchSize: o.batchSize,
      maxSteps,
      learningRate: o.learningRate,
      lrSchedule: o.lrSchedule,
      warmupSteps: Math.round(o.warmupRatio * maxSteps),
      seed: o.seed,
      evalEvery: o.evalEvery,
      saveEvery: o.saveEvery,
      run,
      evaluate: async (step) => {
        const r = await evaluate();
        lastEx = r.ex;
        process.stderr.write(`${o.quiet ? '' : '\n'}sqlrl sft: step ${step}: held-out EX ${(100 * r.ex).toFixed(1)}% (${r.n} examples)\n`);
        return r;
      },
      onStep: (step, m) => bar.update(step, `loss ${(m.loss as number).toFixed(3)}`),
    });
    bar.stop();
    await policy.save(join(o.output, 'final'));
    run.writeReport({ command: 'sft', steps: state.step, seconds: state.elapsed, heldout_ex: lastEx, final: join(o.output, 'final') });
  } finally {
    bar.stop();
    await executor.close();
    await dash?.close();
  }
  return { finalEx: lastEx, dir: o.output };
}

export function register(program: Command): void {
  const train = program.command('train').description('GRPO training of a model on text-to-SQL with sandboxed execution rewards.');
  addSchemaOptions(train, TrainOptions);
  train.action(async () => {
    await runTrain(resolveOptions(train, TrainOptions));
  });
  const sft = program.command('sft').description('Supervised fine-tuning (LoRA or full) on question → gold SQL pairs.');
  addSchemaOptions(sft, SftOptions);
  sft.action(async () => {
    await runSft(resolveOptions(sft, SftOptions));
  });
}
