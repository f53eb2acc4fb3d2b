// Supervised fine-tuning: mean next-token loss over the batch's target tokens, each example a group of
// its prompt and one target (the engine packs the batch), with gradient accumulation; the same run
// directory, checkpoints, resume and stop as GRPO.
import type { Example } from '../data/types.js';
import type { SftStepMetrics } from '../interfaces/metrics.js';
import type { Group, Policy } from '../interfaces/policy.js';
import { afterStep, catchUpEvaluation, resumeRun, saveState, type Evaluate, type Schedule } from './checkpoints.js';
import { exampleAt, type RunDir, type TrainerState } from './run-dir.js';
import { lrAt, type LrSchedule } from './schedule.js';

export interface SftLoopOptions extends Schedule {
  examples: Example[];
  /** Prompt and target token ids of an example (the target ends with the end-of-turn token). */
  pairOf: (ex: Example) => { prompt: number[]; target: number[] };
  batchSize: number;
  gradientAccumulationSteps: number;
  learningRate: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  seed: number;
  run: RunDir;
  evaluate?: Evaluate;
  onStep?: (m: SftStepMetrics) => void;
  shouldStop?: () => boolean;
}

export async function sftTrain(policy: Policy, o: SftLoopOptions): Promise<TrainerState & { stopped: boolean }> {
  const state = await resumeRun(policy, o.run);
  const t0 = performance.now();
  const elapsed = () => state.elapsed + (performance.now() - t0) / 1000;
  const order = new Map<number, number[]>();
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
    const ts = performance.now();
    const groups: Group[] = Array.from({ length: o.batchSize }, (_, i) => {
      const p = o.pairOf(o.examples[exampleAt(state.cursor + i, o.examples.length, o.seed, order)]!);
      return { prompt: p.prompt, completions: [p.target] };
    });
    const tokens = groups.reduce((a, g) => a + g.completions[0]!.length, 0);
    // loss = −(1/N) Σ logp_t over every target token of the step: d loss / d logp_t = −1/N
    const G = Math.max(1, Math.min(o.gradientAccumulationSteps, groups.length));
    const per = Math.ceil(groups.length / G);
    let logpSum = 0;
    for (let m = 0; m < groups.length; m += per) {
      const micro = groups.slice(m, m + per);
      const lps = await policy.backward(
        micro,
        micro.map((g) => [new Float32Array(g.completions[0]!.length).fill(-1 / Math.max(1, tokens))]),
        { temperature: 1 },
      );
      for (const lp of lps) logpSum += lp[0]!.reduce((a, x) => a + x, 0);
    }
    const gradNorm = policy.step();
    state.step = step;
    state.cursor += o.batchSize;
    const m: SftStepMetrics = { step, time: elapsed(), kind: 'train', loss: -logpSum / Math.max(1, tokens), lr, grad_norm: gradNorm, tokens, sec_update: (performance.now() - ts) / 1000 };
    o.run.appendMetrics(m);
    o.onStep?.(m);
    await afterStep(policy, o.run, o, state, elapsed, o.evaluate, false);
  }
  // stopped by a signal, or out of time: the last step's checkpoint, if the schedule did not write it
  if ((stopped || state.step < o.maxSteps) && state.step > 0 && !o.run.checkpointSteps().includes(state.step)) await saveState(policy, o.run, state, elapsed());
  state.elapsed = elapsed();
  return { ...state, stopped };
}
