// Where a run resumes and when it saves: a checkpoint restores weights, optimizer and data cursor, and
// metrics/samples written after it are cut; with no checkpoint the run starts clean (nothing written
// before is kept twice). A checkpoint is written before the evaluation of the same step, so a failure
// during evaluation loses nothing; a resumed run evaluates a checkpointed step whose evaluation is missing.
import type { EvalMetrics } from '../interfaces/metrics.js';
import type { Policy } from '../interfaces/policy.js';
import { RunDir, type TrainerState } from './run-dir.js';

export interface Schedule {
  maxSteps: number;
  /** Stop (as at the last step) once training has taken this many seconds, counted across resumes. */
  maxSeconds?: number;
  evalEvery: number;
  saveEvery: number;
}

/** Greedy execution accuracy on the held-out split (the run layer wires the evaluator). */
export type Evaluate = (step: number) => Promise<Omit<EvalMetrics, 'step' | 'time' | 'kind'>>;

export async function resumeRun(policy: Policy, run: RunDir): Promise<TrainerState> {
  const ck = run.latestCheckpoint();
  if (!ck) {
    run.truncateAfter(0);
    return { step: 0, cursor: 0, elapsed: 0 };
  }
  await policy.loadCheckpoint(ck.dir);
  run.truncateAfter(ck.state.step);
  return ck.state;
}

const evalDue = (s: Schedule, step: number) => s.evalEvery > 0 && (step % s.evalEvery === 0 || step === s.maxSteps);
const saveDue = (s: Schedule, step: number) => s.saveEvery > 0 && (step % s.saveEvery === 0 || step === s.maxSteps);

export async function saveState(policy: Policy, run: RunDir, state: TrainerState, elapsed: number): Promise<void> {
  await run.saveCheckpoint({ ...state, elapsed }, (dir) => policy.saveCheckpoint(dir));
}

/** After a step: checkpoint when due (or `force`), then evaluate when due. */
export async function afterStep(policy: Policy, run: RunDir, s: Schedule, state: TrainerState, elapsed: () => number, evaluate: Evaluate | undefined, force = false): Promise<void> {
  if (saveDue(s, state.step) || force) await saveState(policy, run, state, elapsed());
  if (evaluate && evalDue(s, state.step)) run.appendMetrics({ step: state.step, time: elapsed(), kind: 'eval', ...(await evaluate(state.step)) } satisfies EvalMetrics);
}

/** On resume: the checkpointed step's evaluation, when it was due and is not in metrics.jsonl. */
export async function catchUpEvaluation(run: RunDir, s: Schedule, state: TrainerState, elapsed: () => number, evaluate: Evaluate | undefined): Promise<void> {
  if (!evaluate || state.step === 0 || !evalDue(s, state.step)) return;
  if (run.readMetrics().some((m) => m.kind === 'eval' && m.step === state.step)) return;
  run.appendMetrics({ step: state.step, time: elapsed(), kind: 'eval', ...(await evaluate(state.step)) } satisfies EvalMetrics);
}
