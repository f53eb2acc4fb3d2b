// Supervised fine-tuning: mean next-token loss over the batch's target tokens, each example a group of
// its prompt and one target (the engine packs the batch), with gradient accumulation; the same run
// directory, checkpoints, resume and stop as GRPO (the shared loop).
import type { Example } from '../data/types.js';
import type { SftStepMetrics } from '../interfaces/metrics.js';
import type { Group, Policy } from '../interfaces/policy.js';
import { trainLoop, type LoopOptions } from './loop.js';
import type { TrainerState } from './run-dir.js';

export interface SftLoopOptions extends LoopOptions {
  examples: Example[];
  /** Prompt and target token ids of an example (the target ends with the end-of-turn token). */
  pairOf: (ex: Example) => { prompt: number[]; target: number[] };
  batchSize: number;
  gradientAccumulationSteps: number;
  onStep?: (m: SftStepMetrics) => void;
}

export async function sftTrain(policy: Policy, o: SftLoopOptions): Promise<TrainerState & { stopped: boolean }> {
  return trainLoop(policy, o.examples.length, o, async ({ step, lr, cursor, exampleAt, elapsed }) => {
    const ts = performance.now();
    const groups: Group[] = Array.from({ length: o.batchSize }, (_, i) => {
      const p = o.pairOf(o.examples[exampleAt(cursor + i)]!);
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
    const m: SftStepMetrics = { step, time: elapsed(), kind: 'train', loss: -logpSum / Math.max(1, tokens), lr, grad_norm: gradNorm, tokens, sec_update: (performance.now() - ts) / 1000 };
    o.run.appendMetrics(m);
    o.onStep?.(m);
    return o.batchSize;
  });
}
