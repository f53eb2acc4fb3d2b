// The GRPO loop: collect (sample + score) → update (advantages, objective, backward, step) → record
// (metrics, samples, checkpoint, evaluation), step after step, resumable exactly after a crash or a stop
// (same data order, same sampling seeds, optimizer state restored).
import type { Example } from '../data/types.js';
import type { GrpoStepMetrics } from '../interfaces/metrics.js';
import type { Policy, SampleOptions } from '../interfaces/policy.js';
import type { Score, Scorer } from '../interfaces/scorer.js';
import { afterStep, catchUpEvaluation, resumeRun, saveState, type Evaluate, type Schedule } from './checkpoints.js';
import { collect, pickGroups } from './collect.js';
import type { GrpoConfig } from './grpo.js';
import { sampleRecords, stepMetrics } from './record.js';
import { exampleAt, type RunDir, type TrainerState } from './run-dir.js';
import { lrAt, type LrSchedule } from './schedule.js';
import { update } from './update.js';

export interface GrpoLoopOptions<S extends Score> extends Schedule {
  examples: Example[];
  promptOf: (ex: Example) => number[];
  /** Assistant text the prompt prefills, passed to the scorer. */
  prefill: string;
  scorer: Scorer<S>;
  numGenerations: number;
  batchSize: number;
  sampling: SampleOptions;
  numIterations: number;
  gradientAccumulationSteps: number;
  grpo: GrpoConfig;
  dynamicSampling: boolean;
  maxSampleBatches: number;
  learningRate: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  seed: number;
  run: RunDir;
  /** Prompts per step whose K completions go to samples.jsonl. */
  logGroups: number;
  /** Extra fields of a sample record from its score (result previews, error). */
  sampleDetail: (s: S) => Record<string, unknown>;
  evaluate?: Evaluate;
  onStep?: (m: GrpoStepMetrics) => void;
  /** Checked between steps: a stop request ends the run after a checkpoint. */
  shouldStop?: () => boolean;
}

export async function grpoTrain<S extends Score>(policy: Policy, o: GrpoLoopOptions<S>): Promise<TrainerState & { stopped: boolean }> {
  const state = await resumeRun(policy, o.run);
  const t0 = performance.now();
  const elapsed = () => state.elapsed + (performance.now() - t0) / 1000;
  const order = new Map<number, number[]>();
  const at = (cursor: number) => o.examples[exampleAt(cursor, o.examples.length, o.seed, order)]!;
  await catchUpEvaluation(o.run, o, state, elapsed, o.evaluate);
  let stopped = false;
  while (state.step < o.maxSteps) {
    // a step can run without any I/O: let the event loop take signals and dashboard requests first
    await new Promise((resolve) => setImmediate(resolve));
    if (o.shouldStop?.()) {
      stopped = true;
      break;
    }
    if (o.maxSeconds !== undefined && elapsed() >= o.maxSeconds) break;
    const step = state.step + 1;
    const lr = lrAt(o.learningRate, o.lrSchedule, step - 1, o.maxSteps, o.warmupSteps);
    policy.setLearningRate(lr);
    const c = await collect(policy, o.scorer, { exampleAt: at, promptOf: o.promptOf, prefill: o.prefill, batchSize: o.batchSize, numGenerations: o.numGenerations, sampling: o.sampling, seed: o.seed, dynamicSampling: o.dynamicSampling, maxSampleBatches: o.maxSampleBatches }, step, state.cursor);
    const used = o.dynamicSampling ? pickGroups(c.groups, o.batchSize) : c.groups;
    const u = await update(policy, used, { grpo: o.grpo, numIterations: o.numIterations, gradientAccumulationSteps: o.gradientAccumulationSteps, temperature: o.sampling.temperature });
    state.step = step;
    state.cursor += c.drawn;
    const m = stepMetrics(step, elapsed(), lr, c, used, u, o.dynamicSampling);
    o.run.appendMetrics(m);
    o.run.appendSamples(sampleRecords(step, used, u, o.logGroups, o.sampleDetail));
    o.onStep?.(m);
    await afterStep(policy, o.run, o, state, elapsed, o.evaluate, false);
  }
  // stopped by a signal, or out of time: the last step's checkpoint, if the schedule did not write it
  if ((stopped || state.step < o.maxSteps) && state.step > 0 && !o.run.checkpointSteps().includes(state.step)) await saveState(policy, o.run, state, elapsed());
  state.elapsed = elapsed();
  return { ...state, stopped };
}
