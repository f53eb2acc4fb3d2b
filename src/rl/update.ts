// GRPO's update phase: group-relative advantages (infrastructure failures left out), the reference
// logprobs when beta > 0, then num_iterations passes of the clipped objective: its gradient with respect
// to each completion token's logprob goes to Policy.backward, micro-batch by micro-batch (gradient
// accumulation), and one optimizer step per pass. Completions without gradient skip the backward. At
// the end the policy drops what it kept from sampling for this update.
import type { Group, Policy } from '../interfaces/policy.js';
import type { Score } from '../interfaces/scorer.js';
import type { CollectedGroup } from './collect.js';
import { groupAdvantages, grpoLoss, type Advantages, type GrpoConfig, type GrpoResult } from './grpo.js';

export interface UpdateOptions {
  grpo: GrpoConfig;
  numIterations: number;
  /** Micro-batches per optimizer step; the groups are split evenly, in order. */
  gradientAccumulationSteps: number;
  temperature: number;
}

export interface UpdateResult {
  adv: Advantages;
  /** The last pass's loss and its metrics (null when no sequence carried gradient). */
  loss: GrpoResult | null;
  gradNorm: number;
  excluded: number;
  secUpdate: number;
}

export async function update(policy: Policy, groups: CollectedGroup<Score>[], o: UpdateOptions): Promise<UpdateResult> {
  try {
    return await passes(policy, groups, o);
  } finally {
    // what sampling kept for this update goes, also when nothing had gradient and no step ran
    policy.endUpdate();
  }
}

async function passes(policy: Policy, groups: CollectedGroup<Score>[], o: UpdateOptions): Promise<UpdateResult> {
  const t0 = performance.now();
  const K = groups[0]?.samples.length ?? 0;
  const scores = groups.flatMap((g) => g.scores);
  const keep = scores.map((s) => !s.excluded);
  const adv = groupAdvantages(
    scores.map((s) => s.reward),
    Math.max(1, K),
    o.grpo.scaleRewards,
    o.grpo.eps,
    keep,
  );
  const G = Math.max(1, Math.min(o.gradientAccumulationSteps, groups.length));
  const perMicro = Math.ceil(groups.length / G);
  const microOf = (gi: number) => Math.floor(gi / perMicro);
  const asGroups = (idx: number[]): Group[] => idx.map((gi) => ({ prompt: groups[gi]!.prompt, completions: groups[gi]!.samples.map((s) => s.tokens) }));
  const all = groups.map((_, gi) => gi);
  const ref = o.grpo.beta > 0 ? await policy.logprobs(asGroups(all), { reference: true, temperature: o.temperature }) : null;
  let loss: GrpoResult | null = null;
  let gradNorm = 0;
  for (let it = 0; it < o.numIterations; it++) {
    // μ = 1: the policy is still the behaviour policy; its logprobs are the sampling-time ones
    const logp = it === 0 ? groups.map((g) => g.samples.map((s) => s.logprobs)) : await policy.logprobs(asGroups(all), { temperature: o.temperature });
    loss = grpoLoss(
      groups.flatMap((g, gi) =>
        g.samples.map((s, k) => ({
          logp: logp[gi]![k]!,
          oldLogp: s.logprobs,
          ...(ref ? { refLogp: ref[gi]![k]! } : {}),
          advantage: adv.advantages[gi * K + k]!,
          truncated: s.finishReason === 'length',
          zeroStdGroup: adv.zeroStd[gi]!,
          excluded: !keep[gi * K + k],
          micro: microOf(gi),
        })),
      ),
      { ...o.grpo, accumulationSteps: G },
    );
    if (loss.metrics.sequences === 0) break;
    const d = loss.dLogprob;
    for (let m = 0; m < G; m++) {
      // only completions with gradient go through the backward; groups left without any are skipped
      const live: Group[] = [];
      const grads: Float32Array[][] = [];
      for (let gi = m * perMicro; gi < Math.min(groups.length, (m + 1) * perMicro); gi++) {
        const ks = groups[gi]!.samples.map((_, k) => k).filter((k) => d[gi * K + k]!.some((x) => x !== 0));
        if (!ks.length) continue;
        live.push({ prompt: groups[gi]!.prompt, completions: ks.map((k) => groups[gi]!.samples[k]!.tokens) });
        grads.push(ks.map((k) => d[gi * K + k]!));
      }
      if (live.length) await policy.backward(live, grads, { temperature: o.temperature });
    }
    gradNorm = policy.step();
  }
  return { adv, loss, gradNorm, excluded: keep.filter((k) => !k).length, secUpdate: (performance.now() - t0) / 1000 };
}
