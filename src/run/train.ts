// Runs a training configuration: checks it whole before anything is written (run/plan), builds the data,
// prompts, policy, reward and held-out evaluator, then hands them to the GRPO or SFT loop (rl/) with
// progress, the dashboard, a graceful stop on SIGINT/SIGTERM, and the final adapter and report.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, missingDatabases } from '../data/datasets.js';
import { promptMessages, templatePrefill, type PromptTemplate } from '../data/prompt.js';
import type { Example } from '../data/types.js';
import { loadModel, type LoadedModel } from '../engine/io/load.js';
import { CpuPolicy } from '../engine/policy.js';
import { UsageError } from '../errors.js';
import { evaluateGenerator } from '../eval/generate-eval.js';
import { PolicyGenerator } from '../eval/native-generator.js';
import type { Policy } from '../interfaces/policy.js';
import type { Evaluate } from '../rl/checkpoints.js';
import { grpoTrain } from '../rl/grpo-trainer.js';
import { RunDir } from '../rl/run-dir.js';
import { sftTrain } from '../rl/sft-trainer.js';
import { loadReward } from '../reward/config.js';
import { extractSql } from '../reward/extract.js';
import { resolveDesign, type LoadedReward } from '../reward/presets.js';
import { RewardScorer, type RewardResult } from '../reward/scorer.js';
import { SqlExecutor } from '../sql/executor.js';
import type { SqlValue } from '../sql/types.js';
import type { SftConfig, TrainConfig } from './config.js';
import { referencePolicy, resolveEvalSplit, resolveTemplate, type Adjustment } from './plan.js';
import { buildPrompts, sftTargets, type RunPrompts } from './prompts.js';
import { maybeDashboard, say, stepBar } from './progress.js';
import { onStopSignals, SECOND_SIGNAL_HINT } from '../signals.js';

type Common = SftConfig | TrainConfig;

export interface RunResult {
  dir: string;
  steps: number;
  /** Held-out EX of the last evaluation, or null. */
  finalEx: number | null;
  /** Stopped by a signal before the last step (resume with --resume). */
  stopped: boolean;
}

/** Examples of a split whose database file exists; the others are counted. */
export function loadSplit(o: Pick<Common, 'dataset' | 'dataDir' | 'file' | 'dbDir'>, split: string, limit?: number): { examples: Example[]; missingDb: number; firstMissing: string | null } {
  let ex: Example[];
  try {
    ex = loadDataset({ dataset: o.dataset, split, ...(o.dataDir ? { dataDir: o.dataDir } : {}), ...(o.file ? { file: o.file } : {}), ...(o.dbDir ? { dbDir: o.dbDir } : {}) });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (limit) ex = ex.slice(0, limit);
  const missing = missingDatabases(ex);
  const gone = new Set(missing);
  const examples = ex.filter((e) => !gone.has(e));
  if (!examples.length) throw new UsageError(`no usable examples in split '${split}'${missing.length ? ` (${missing.length} have no database file, e.g. ${missing[0]!.dbPath}; pass --db-dir)` : ''}`);
  return { examples, missingDb: missing.length, firstMissing: missing[0]?.dbPath ?? null };
}

/** The output directory is new or empty, or --resume continues the run there (from its checkpoint, or from the start). */
export function checkOutputDir(dir: string, resume: boolean): RunDir {
  if (existsSync(dir) && readdirSync(dir).length > 0 && !resume) throw new UsageError(`output directory '${dir}' is not empty (pass --resume to continue its run, or choose a new --output)`);
  if (resume && !existsSync(join(dir, 'config.json'))) throw new UsageError(`--resume: '${dir}' holds no run to continue`);
  return new RunDir(dir);
}

async function loadModelOrExplain(spec: string): Promise<LoadedModel> {
  try {
    return await loadModel(spec);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function buildPolicy(loaded: LoadedModel, o: Common, maxPositions: number, frozenReference: boolean): CpuPolicy {
  const need = Math.min(maxPositions, loaded.config.maxPositionEmbeddings);
  return CpuPolicy.fromLoaded(loaded, {
    train: o.train === 'full' ? { kind: 'full' } : { kind: 'lora', lora: { r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targetModules: o.loraTargets } },
    ...(o.init && o.train === 'lora' ? { adapterDir: o.init } : {}),
    optimizer: { lr: o.learningRate, weightDecay: o.weightDecay },
    maxGradNorm: o.maxGradNorm,
    seed: o.seed,
    maxPositions: need,
    gradientCheckpointing: o.gradientCheckpointing === 'auto' ? 'auto' : o.gradientCheckpointing === 'on',
    frozenReference,
  });
}

/** Prompts of a split, with what was left out said; a too-long training prompt refuses or drops per --long-prompts. */
function preparePrompts(policy: Policy, examples: Example[], template: PromptTemplate, o: Common, label: string, log: (s: string) => void, longPrompts = o.longPrompts): RunPrompts {
  const p = buildPrompts(policy.tokenizer, examples, template, o.maxPromptLength, longPrompts);
  if (p.unreadable.count) log(`${p.unreadable.count} ${label} examples left out: their database cannot be read (${p.unreadable.first})`);
  if (p.tooLong) log(`${p.tooLong} ${label} examples left out: prompt longer than --max-prompt-length ${o.maxPromptLength} (longest ${p.longest} tokens)`);
  if (!p.examples.length) throw new UsageError(`no ${label} example is left to use (see above)`);
  return p;
}

function heldOut(policy: Policy, prompts: RunPrompts, template: PromptTemplate, executor: SqlExecutor, maxNewTokens: number, split: string): Evaluate {
  return async () => {
    const report = await evaluateGenerator({
      examples: prompts.examples,
      generator: new PolicyGenerator(policy, 'policy'),
      messages: (ex) => promptMessages(ex, { template }),
      prefill: templatePrefill(template),
      extract: (c) => extractSql(c).sql,
      executor,
      mode: 'strict',
      maxTokens: maxNewTokens,
    });
    const byBucket = Object.fromEntries(Object.entries(report.summary.by_db).map(([k, v]) => [k, v.execution_accuracy]));
    return { ex: report.summary.execution_accuracy, n: report.summary.evaluated, split, by_bucket: byBucket };
  };
}

const preview = (r: RewardResult['pred']): SqlValue[][] | null =>
  r?.kind === 'rows' ? r.rows.slice(0, 5).map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? `<blob ${v.byteLength}>` : v))) : null;

/** samples.jsonl fields from a reward result: result previews and the error. */
function sampleDetail(r: RewardResult): Record<string, unknown> {
  return { pred_preview: preview(r.pred), gold_preview: preview(r.gold), error: r.pred?.kind === 'error' ? r.pred.message : r.pred?.kind === 'timeout' ? 'timeout' : null };
}

/** Shared set-up of train and sft: data, plan, output, policy, prompts, executor. */
async function setUp(o: Common, command: 'train' | 'sft', reward: { design: ReturnType<typeof resolveDesign>; loaded: LoadedReward } | null, beta: number) {
  // what the checks adjusted or left out is said once every check has passed (a refused run prints one line)
  const notes: string[] = [];
  const log = (s: string) => notes.push(s);
  const adjustments: Adjustment[] = [];
  const note = (a: Adjustment | null) => a && adjustments.push(a);
  const t = reward ? await resolveTemplate(reward.design, o.template, (o as TrainConfig).reward, reward.loaded.custom) : { template: o.template ?? 'plain', adjustment: null };
  note(t.adjustment);
  const ev = resolveEvalSplit(o.dataset, o.split, o.evalSplit);
  if (o.evalEvery > 0) note(ev.adjustment);
  const ref = referencePolicy(beta, o.train);
  note(ref.adjustment);
  const train = loadSplit(o, o.split, o.limit);
  const held = o.evalEvery > 0 ? loadSplit(o, ev.evalSplit, o.evalLimit) : null;
  const run = checkOutputDir(o.output, o.resume);
  for (const a of adjustments) log(a.message);
  if (train.missingDb) log(`${train.missingDb} training examples left out: no database file (e.g. ${train.firstMissing})`);
  if (held?.missingDb) log(`${held.missingDb} held-out examples left out: no database file (e.g. ${held.firstMissing})`);
  const loaded = await loadModelOrExplain(o.model);
  const maxNew = command === 'train' ? (o as TrainConfig).maxCompletionLength : 256;
  const policy = buildPolicy(loaded, o, o.maxPromptLength + maxNew, ref.frozenCopy);
  if (o.init && o.train === 'full') await policy.loadCheckpoint(o.init);
  const prompts = preparePrompts(policy, train.examples, t.template, o, 'training', log);
  const heldPrompts = held ? preparePrompts(policy, held.examples, t.template, o, 'held-out', log, 'drop') : null;
  const executor = new SqlExecutor({ timeoutMs: o.sqlTimeout * 1000, ...(o.workers ? { workers: o.workers } : {}) });
  const evaluate = heldPrompts ? heldOut(policy, heldPrompts, t.template, executor, maxNew, ev.evalSplit) : undefined;
  const out = say(command);
  notes.forEach(out);
  return { log: out, template: t.template, evalSplit: ev.evalSplit, run, policy, prompts, executor, evaluate, adjustments };
}

async function withRun<T>(o: Common, command: string, body: (stop: () => boolean) => Promise<T>, cleanup: () => Promise<void>): Promise<T> {
  const dash = await maybeDashboard(o.dashboard, o.output, o.dashboardPort);
  const stop = onStopSignals((reason) => process.stderr.write(`\nsqlrl ${command}: ${reason}: stopping after this step, with a checkpoint; ${SECOND_SIGNAL_HINT}\n`));
  try {
    return await body(() => stop.requested);
  } finally {
    stop.dispose();
    await cleanup();
    await dash?.close();
  }
}

export async function runTrain(o: TrainConfig): Promise<RunResult> {
  const loaded = await loadReward(o.reward, { ...(o.rewardMode ? { mode: o.rewardMode } : {}), ...(o.rewardExtract ? { extract: o.rewardExtract } : {}) });
  let design;
  try {
    design = resolveDesign(loaded.config, loaded.custom);
  } catch (err) {
    throw new UsageError(`--reward: ${(err as Error).message}`);
  }
  const s = await setUp(o, 'train', { design, loaded }, o.beta);
  const scorer = new RewardScorer(s.executor, loaded);
  if (!o.resume) s.run.create({ command: 'train', ...o, template: s.template, evalSplit: s.evalSplit, reward_design: scorer.design });
  s.log(s.policy.describe());
  s.log(`${s.prompts.examples.length} training prompts (longest ${s.prompts.longest} tokens), reward ${scorer.design.name} (${scorer.design.mode}), template ${s.template}, K=${o.numGenerations}, output ${o.output}`);
  const bar = stepBar(o.maxSteps, o.quiet, 'grpo');
  let lastEx: number | null = null;
  // steps of this process, and those where no group had reward variance (nothing to learn from)
  let steps = 0;
  let idleSteps = 0;
  return withRun(
    o,
    'train',
    async (shouldStop) => {
      const state = await grpoTrain(s.policy, {
        examples: s.prompts.examples,
        promptOf: s.prompts.promptOf,
        prefill: templatePrefill(s.template),
        scorer,
        numGenerations: o.numGenerations,
        batchSize: o.batchSize,
        sampling: { maxNewTokens: o.maxCompletionLength, temperature: o.temperature, topP: o.topP },
        numIterations: o.numIterations,
        gradientAccumulationSteps: o.gradientAccumulationSteps,
        grpo: {
          epsilon: o.epsilon,
          ...(o.epsilonHigh !== undefined ? { epsilonHigh: o.epsilonHigh } : {}),
          beta: o.beta,
          klEstimator: o.klEstimator,
          lossType: o.lossType,
          maxCompletionLength: o.maxCompletionLength,
          scaleRewards: o.scaleRewards,
          eps: 1e-4,
          maskTruncatedCompletions: o.maskTruncatedCompletions,
          dropZeroStdGroups: o.dropZeroStdGroups,
        },
        dynamicSampling: o.dynamicSampling,
        maxSampleBatches: o.maxSampleBatches,
        maxSteps: o.maxSteps,
        ...(o.maxMinutes !== undefined ? { maxSeconds: o.maxMinutes * 60 } : {}),
        learningRate: o.learningRate,
        lrSchedule: o.lrSchedule,
        warmupSteps: Math.round(o.warmupRatio * o.maxSteps),
        seed: o.seed,
        evalEvery: o.evalEvery,
        saveEvery: o.saveEvery,
        run: s.run,
        logGroups: o.logGroups,
        sampleDetail,
        ...(s.evaluate
          ? {
              evaluate: async (step: number) => {
                const r = await s.evaluate!(step);
                lastEx = r.ex;
                process.stderr.write(`${o.quiet ? '' : '\n'}sqlrl train: step ${step}: held-out EX ${(100 * r.ex).toFixed(1)}% (${r.n} examples)\n`);
                return r;
              },
            }
          : {}),
        onStep: (m) => {
          steps++;
          bar.update(m.step, `reward ${m.reward_mean.toFixed(3)} match ${(100 * m.match_rate).toFixed(0)}% len ${m.completion_len_mean.toFixed(0)} ${(m.sec_sampling + m.sec_rewards + m.sec_update).toFixed(1)}s`);
          if (m.groups > 0 && m.zero_std_groups === m.groups && idleSteps++ === 0)
            process.stderr.write(
              `${o.quiet ? '' : '\n'}sqlrl train: step ${m.step}: in every group the ${o.numGenerations} completions got the same reward (mean ${m.reward_mean.toFixed(3)}): nothing to learn from, ${m.grad_norm === 0 ? 'the weights did not change' : 'only the KL term moved the weights'}. ` +
                `If this persists the model fails (or passes) every prompt: warm it up with sqlrl sft, use --dynamic-sampling, or raise --num-generations\n`,
            );
        },
        shouldStop,
      });
      bar.stop();
      if (idleSteps > 0) s.log(`${idleSteps} of ${steps} steps had no group whose rewards differed: nothing learned from their rewards`);
      if (state.stopped) {
        s.log(`stopped at step ${state.step} of ${o.maxSteps}; checkpoint written. Continue with the same command plus --resume`);
        return { dir: o.output, steps: state.step, finalEx: lastEx, stopped: true };
      }
      await s.policy.save(join(o.output, 'final'));
      s.run.writeReport({ command: 'train', steps: state.step, seconds: state.elapsed, heldout_ex: lastEx, final: join(o.output, 'final') });
      return { dir: o.output, steps: state.step, finalEx: lastEx, stopped: false };
    },
    async () => {
      bar.stop();
      await s.executor.close();
    },
  );
}

export async function runSft(o: SftConfig): Promise<RunResult> {
  const s = await setUp(o, 'sft', null, 0);
  const maxSteps = o.epochs ? Math.max(1, Math.round((o.epochs * s.prompts.examples.length) / o.batchSize)) : o.maxSteps;
  if (!o.resume) s.run.create({ command: 'sft', ...o, template: s.template, evalSplit: s.evalSplit, maxSteps });
  s.log(s.policy.describe());
  s.log(`${s.prompts.examples.length} examples (longest prompt ${s.prompts.longest} tokens), ${maxSteps} steps of ${o.batchSize}, template ${s.template}, output ${o.output}`);
  const bar = stepBar(maxSteps, o.quiet, 'sft');
  const target = sftTargets(s.policy.tokenizer, s.template);
  let lastEx: number | null = null;
  return withRun(
    o,
    'sft',
    async (shouldStop) => {
      const state = await sftTrain(s.policy, {
        examples: s.prompts.examples,
        pairOf: (ex) => ({ prompt: s.prompts.promptOf(ex), target: target(ex) }),
        batchSize: o.batchSize,
        gradientAccumulationSteps: o.gradientAccumulationSteps,
        maxSteps,
        ...(o.maxMinutes !== undefined ? { maxSeconds: o.maxMinutes * 60 } : {}),
        learningRate: o.learningRate,
        lrSchedule: o.lrSchedule,
        warmupSteps: Math.round(o.warmupRatio * maxSteps),
        seed: o.seed,
        evalEvery: o.evalEvery,
        saveEvery: o.saveEvery,
        run: s.run,
        ...(s.evaluate
          ? {
              evaluate: async (step: number) => {
                const r = await s.evaluate!(step);
                lastEx = r.ex;
                process.stderr.write(`${o.quiet ? '' : '\n'}sqlrl sft: step ${step}: held-out EX ${(100 * r.ex).toFixed(1)}% (${r.n} examples)\n`);
                return r;
              },
            }
          : {}),
        onStep: (m) => bar.update(m.step, `loss ${m.loss.toFixed(3)}`),
        shouldStop,
      });
      bar.stop();
      if (state.stopped) {
        s.log(`stopped at step ${state.step} of ${maxSteps}; checkpoint written. Continue with the same command plus --resume`);
        return { dir: o.output, steps: state.step, finalEx: lastEx, stopped: true };
      }
      await s.policy.save(join(o.output, 'final'));
      s.run.writeReport({ command: 'sft', steps: state.step, seconds: state.elapsed, heldout_ex: lastEx, final: join(o.output, 'final') });
      return { dir: o.output, steps: state.step, finalEx: lastEx, stopped: false };
    },
    async () => {
      bar.stop();
      await s.executor.close();
    },
  );
}
