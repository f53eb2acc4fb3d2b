// The step loop both trainers share: resume from the latest checkpoint (or start clean), then step after
// step until max-steps, a stop request or the time box — learning rate from the schedule, the trainer's
// own step, the checkpoint and evaluation when due — and a checkpoint of the last step when the loop
// ended early.
import type { Policy } from '../interfaces/policy.js';
import { afterStep, catchUpEvaluation, resumeRun, saveState, type Evaluate, type Schedule } from './checkpoints.js';
import { exampleAt, type RunDir, type TrainerState } from './run-dir.js';
import { lrAt, type LrSchedule } from './schedule.js';

export interface LoopOptions extends Schedule {
  learningRate: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  seed: number;
  run: RunDir;
  evaluate?: Evaluate;
  /** Checked between steps: a stop request ends the run after a checkpoint. */
  shouldStop?: () => boolean;
}

export interface StepContext {
  step: number;
  lr: number;
  /** Prompts consumed so far in the run's data stream. */
  cursor: number;
  /** The example index at a position of the stream (seeded, epoch by epoch). */
  exampleAt: (cursor: number) => number;
  /** Seconds of training so far, across resumes. */
  elapsed: () => number;
}

/** Runs `step` (which returns the prompts it consumed) until the schedule, a stop or the time box ends it. */
export async function trainLoop(policy: Policy, examples: number, o: LoopOptions, step: (s: StepContext) => Promise<number>): Promise<TrainerState & { stopped: boolean }> {
  const state = await resumeRun(policy, o.run);
  const t0 = performance.now();
  const elapsed = () => state.elapsed + (performance.now() - t0) / 1000;
  const order = new Map<number, number[]>();
  const at = (cursor: number) => exampleAt(cursor, examples, o.seed, order);
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
    const n = state.step + 1;
    const lr = lrAt(o.learningRate, o.lrSchedule, n - 1, o.maxSteps, o.warmupSteps);
    policy.setLearningRate(lr);
    const drawn = await step({ step: n, lr, cursor: state.cursor, exampleAt: at, elapsed });
    state.step = n;
    state.cursor += drawn;
    await afterStep(policy, o.run, o, state, elapsed, o.evaluate, false);
  }
  // stopped by a signal, or out of time: the last step's checkpoint, if the schedule did not write it
  if ((stopped || state.step < o.maxSteps) && state.step > 0 && !o.run.checkpointSteps().includes(state.step)) await saveState(policy, o.run, state, elapsed());
  state.elapsed = elapsed();
  return { ...state, stopped };
}
