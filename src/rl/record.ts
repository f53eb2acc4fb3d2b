// GRPO's record phase: the step's metrics line and the sampled completions for samples.jsonl
// (docs/run-format.md). Rewards are averaged over every group drawn; the loss terms over those trained on.
import type { GrpoStepMetrics } from '../interfaces/metrics.js';
import type { Score } from '../interfaces/scorer.js';
import type { Collected, CollectedGroup } from './collect.js';
import { informative } from './collect.js';
import type { UpdateResult } from './update.js';

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) * (x - m))));
};

export function stepMetrics(step: number, time: number, lr: number, c: Collected<Score>, used: CollectedGroup<Score>[], u: UpdateResult, dynamicSampling: boolean): GrpoStepMetrics {
  const all = c.groups.flatMap((g) => g.scores);
  const samples = used.flatMap((g) => g.samples);
  const drawnSamples = c.groups.flatMap((g) => g.samples);
  const componentNames = [...new Set(all.flatMap((r) => Object.keys(r.components)))];
  const entropy = drawnSamples.flatMap((s) => Array.from(s.entropy));
  const rewards = all.filter((r) => !r.excluded).map((r) => r.reward);
  return {
    step,
    time,
    kind: 'train',
    loss: u.loss?.loss ?? 0,
    reward_mean: mean(rewards),
    reward_std: sd(rewards),
    rewards: Object.fromEntries(componentNames.map((n) => [n, mean(all.filter((r) => !r.excluded).map((r) => r.components[n] ?? 0))])),
    match_rate: mean(all.map((r) => (r.status === 'match' ? 1 : 0))),
    kl: u.loss?.metrics.kl ?? 0,
    clip_frac: u.loss?.metrics.clipFrac ?? 0,
    entropy: mean(entropy),
    completion_len_mean: mean(samples.map((s) => s.tokens.length)),
    truncated_frac: mean(samples.map((s) => (s.finishReason === 'length' ? 1 : 0))),
    zero_std_groups: u.adv.zeroStd.filter(Boolean).length,
    groups: used.length,
    excluded: u.excluded,
    ...(dynamicSampling ? { sampled_groups: c.groups.length, informative_groups: c.groups.filter(informative).length } : {}),
    lr,
    grad_norm: u.gradNorm,
    sec_sampling: c.secSampling,
    sec_rewards: c.secRewards,
    sec_update: u.secUpdate,
  };
}

/** Every completion of the first `logGroups` groups trained on, with its score and advantage. */
export function sampleRecords<S extends Score>(step: number, used: CollectedGroup<S>[], u: UpdateResult, logGroups: number, detail: (s: S) => Record<string, unknown>): Record<string, unknown>[] {
  return used.slice(0, logGroups).flatMap((g, gi) =>
    g.samples.map((s, k) => {
      const r = g.scores[k]!;
      return {
        step,
        example_id: g.example.id,
        group: gi,
        k,
        question: g.example.question,
        db_id: g.example.dbId,
        gold_sql: g.example.goldSql,
        completion: s.text,
        sql: r.sql,
        status: r.status,
        reward: r.reward,
        components: r.components,
        advantage: u.adv.advantages[gi * g.samples.length + k] ?? 0,
        ...detail(r),
      };
    }),
  );
}
