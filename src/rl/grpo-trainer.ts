// The GRPO loop: collect (sample + score) → update (advantages, objective, backward, step) → record
// (metrics, samples; checkpoint and evaluation through the shared loop), step after step, resumable
// exactly after a crash or a stop (same data order, same sampling seeds, optimizer state restored).
import type { Example } from '../data/types.js';
import type { GrpoStepMetrics } from '../interfaces/metrics.js';
import type { Policy, SampleOptions } from '../interfaces/policy.js';
import type { Score, Scorer } from '../interfaces/scorer.js';
import { collect, pickGroups } from './collect.js';
import type { GrpoConfig } from './grpo.js';
import { trainLoop, type LoopOptions } from './loop.js';
import { sampleRecords, stepMetrics } from './record.js';
import type { TrainerState } from './run-dir.js';
import { update } from './update.js';

export interface GrpoLoopOptions<S extends Score> extends LoopOptions {
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
  /** Prompts per step whose K completions go to samples.jsonl. */
  logGroups: number;
  /** Extra fields of a sample record from its score (result previews, error). */
  sampleDetail: (s: S) => Record<string, unknown>;
  onStep?: (m: GrpoStepMetrics) => void;
}

export async function grpoTrain<S extends Score>(policy: Policy, o: GrpoLoopOptions<S>): Promise<TrainerState & { stopped: boolean }> {
  return trainLoop(policy, o.examples.length, o, async ({ step, lr, cursor, exampleAt, elapsed }) => {
    const c = await collect(
      policy,
      o.scorer,
      { exampleAt: (i) => o.examples[exampleAt(i)]!, promptOf: o.promptOf, prefill: o.prefill, batchSize: o.batchSize, numGenerations: o.numGenerations, sampling: o.sampling, seed: o.seed, dynamicSampling: o.dynamicSampling, maxSampleBatches: o.maxSampleBatches },
      step,
      cursor,
    );
    const used = o.dynamicSampling ? pickGroups(c.groups, o.batchSize) : c.groups;
    const u = await update(policy, used, { grpo: o.grpo, numIterations: o.numIterations, gradientAccumulationSteps: o.gradientAccumulationSteps, temperature: o.sampling.temperature });
    const m = stepMetrics(step, elapsed(), lr, c, used, u, o.dynamicSampling);
    o.run.appendMetrics(m);
    o.run.appendSamples(sampleRecords(step, used, u, o.logGroups, o.sampleDetail));
    o.onStep?.(m);
    return c.drawn;
  });
}
