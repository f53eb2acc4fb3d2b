// One line of a run's metrics.jsonl (docs/run-format.md): written by the trainers, read by the CLI's
// progress line and the dashboard.

export interface GrpoStepMetrics {
  step: number;
  time: number;
  kind: 'train';
  loss: number;
  reward_mean: number;
  reward_std: number;
  /** Component name -> mean over the step's completions. */
  rewards: Record<string, number>;
  match_rate: number;
  kl: number;
  clip_frac: number;
  /** Mean per-token entropy of the sampling distribution over every completion token of the step. */
  entropy: number;
  completion_len_mean: number;
  truncated_frac: number;
  zero_std_groups: number;
  groups: number;
  /** Completions left out of their group's advantage because their score was an infrastructure failure. */
  excluded: number;
  sampled_groups?: number;
  informative_groups?: number;
  lr: number;
  grad_norm: number;
  sec_sampling: number;
  sec_rewards: number;
  sec_update: number;
}

export interface SftStepMetrics {
  step: number;
  time: number;
  kind: 'train';
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  sec_update: number;
}

export interface EvalMetrics {
  step: number;
  time: number;
  kind: 'eval';
  /** Greedy execution accuracy, 0..1. */
  ex: number;
  n: number;
  split: string;
  by_bucket?: Record<string, number>;
}

export type MetricsRecord = GrpoStepMetrics | SftStepMetrics | EvalMetrics;
