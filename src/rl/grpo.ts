// The GRPO objective as plain functions of numbers (no model, no I/O). Names follow TRL's GRPOConfig:
// group-relative advantages (scale_rewards), the token-level PPO-clipped ratio against the behaviour
// policy (epsilon, epsilon_high as in DAPO), KL to the reference (beta; k3 or k1 estimator), the loss
// aggregations (loss_type grpo / bnpo / dapo / dr_grpo), mask_truncated_completions, and dropping groups
// whose rewards are all equal (Arctic's online filtering). The output includes d loss / d logp_t for
// each completion token: exactly what Policy.backward takes.

export type ScaleRewards = 'group' | 'batch' | 'none';
export type LossType = 'grpo' | 'bnpo' | 'dapo' | 'dr_grpo';

export interface GrpoConfig {
  /** Lower clip: ratio below 1 − epsilon stops pushing down (TRL default 0.2). */
  epsilon: number;
  /** Upper clip (DAPO's clip-higher); defaults to epsilon. */
  epsilonHigh?: number;
  /** KL coefficient; 0 skips the reference policy entirely (TRL default 0.0 since v0.19; SQL-R1 uses 0.001). */
  beta: number;
  klEstimator: 'k3' | 'k1';
  lossType: LossType;
  /** For dr_grpo: the fixed normaliser. */
  maxCompletionLength: number;
  scaleRewards: ScaleRewards;
  /** Added to the standard deviation (TRL: 1e-4). */
  eps: number;
  maskTruncatedCompletions: boolean;
  /** Leave groups with identical rewards out of the loss (they carry no signal); they are still counted. */
  dropZeroStdGroups: boolean;
}

export const GRPO_DEFAULTS: GrpoConfig = {
  epsilon: 0.2,
  beta: 0,
  klEstimator: 'k3',
  lossType: 'dapo',
  maxCompletionLength: 256,
  scaleRewards: 'group',
  eps: 1e-4,
  maskTruncatedCompletions: false,
  dropZeroStdGroups: true,
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/** torch.std: the unbiased (n − 1) estimator, as TRL uses it. */
export function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}

export interface Advantages {
  advantages: number[];
  /** Per group: all rewards equal (zero standard deviation). */
  zeroStd: boolean[];
}

/** Advantages of rewards laid out group after group (each of `groupSize`). */
export function groupAdvantages(rewards: number[], groupSize: number, scale: ScaleRewards, eps = 1e-4): Advantages {
  if (groupSize < 1 || rewards.length % groupSize !== 0) throw new Error(`${rewards.length} rewards do not split into groups of ${groupSize}`);
  const groups = rewards.length / groupSize;
  const advantages: number[] = [];
  const zeroStd: boolean[] = [];
  const batchStd = std(rewards);
  for (let g = 0; g < groups; g++) {
    const rs = rewards.slice(g * groupSize, (g + 1) * groupSize);
    const m = mean(rs);
    const s = std(rs);
    zeroStd.push(rs.every((r) => r === rs[0]));
    const denom = scale === 'group' ? s + eps : scale === 'batch' ? batchStd + eps : 1;
    for (const r of rs) advantages.push((r - m) / denom);
  }
  return { advantages, zeroStd };
}

export interface GrpoSequence {
  /** Current policy logprobs of the completion tokens. */
  logp: ArrayLike<number>;
  /** Behaviour (sampling-time) logprobs. */
  oldLogp: ArrayLike<number>;
  /** Reference (adapter off) logprobs, needed when beta > 0. */
  refLogp?: ArrayLike<number>;
  advantage: number;
  truncated: boolean;
  /** The sequence's group has all-equal rewards. */
  zeroStdGroup?: boolean;
}

export interface GrpoMetrics {
  /** Tokens where the clip stopped the gradient, over all counted tokens. */
  clipFrac: number;
  clipLowFrac: number;
  clipHighFrac: number;
  kl: number;
  ratioMean: number;
  ratioMin: number;
  ratioMax: number;
  tokens: number;
  sequences: number;
  droppedSequences: number;
}

export interface GrpoResult {
  loss: number;
  dLogprob: Float32Array[];
  metrics: GrpoMetrics;
}

export function grpoLoss(seqs: GrpoSequence[], cfg: GrpoConfig): GrpoResult {
  const epsLow = cfg.epsilon;
  const epsHigh = cfg.epsilonHigh ?? cfg.epsilon;
  const counted = seqs.map((s) => !(cfg.maskTruncatedCompletions && s.truncated) && !(cfg.dropZeroStdGroups && s.zeroStdGroup));
  const B = counted.filter(Boolean).length;
  const totalTokens = seqs.reduce((a, s, i) => a + (counted[i] ? s.logp.length : 0), 0);
  let loss = 0;
  let clipLow = 0;
  let clipHigh = 0;
  let klSum = 0;
  let ratioSum = 0;
  let ratioMin = Infinity;
  let ratioMax = -Infinity;
  const dLogprob = seqs.map((s, i) => {
    const n = s.logp.length;
    const d = new Float32Array(n);
    if (!counted[i] || n === 0) return d;
    // weight of each token in the aggregate
    const w = cfg.lossType === 'grpo' ? 1 / (n * B) : cfg.lossType === 'dr_grpo' ? 1 / (B * cfg.maxCompletionLength) : 1 / Math.max(1, totalTokens);
    const A = s.advantage;
    for (let t = 0; t < n; t++) {
      const lp = s.logp[t]!;
      const ratio = Math.exp(lp - s.oldLogp[t]!);
      ratioSum += ratio;
      ratioMin = Math.min(ratioMin, ratio);
      ratioMax = Math.max(ratioMax, ratio);
      const clipped = Math.min(Math.max(ratio, 1 - epsLow), 1 + epsHigh);
      // −min(r·A, clip(r)·A): the clipped branch (constant in logp) wins when it is the smaller one
      const unclipped = ratio * A;
      const clippedTerm = clipped * A;
      let perToken: number;
      let grad: number;
      if (clippedTerm < unclipped) {
        perToken = -clippedTerm;
        grad = 0;
        if (A > 0) clipHigh++;
        else clipLow++;
      } else {
        perToken = -unclipped;
        grad = -unclipped; // d(−r·A)/dlogp = −r·A
      }
      if (cfg.beta > 0) {
        const ref = s.refLogp![t]!;
        const x = ref - lp;
        const kl = cfg.klEstimator === 'k3' ? Math.exp(x) - x - 1 : lp - ref;
        klSum += kl;
        perToken += cfg.beta * kl;
        grad += cfg.beta * (cfg.klEstimator === 'k3' ? 1 - Math.exp(x) : 1);
      }
      loss += w * perToken;
      d[t] = w * grad;
    }
    return d;
  });
  const tokens = totalTokens;
  return {
    loss,
    dLogprob,
    metrics: {
      clipFrac: tokens ? (clipLow + clipHigh) / tokens : 0,
      clipLowFrac: tokens ? clipLow / tokens : 0,
      clipHighFrac: tokens ? clipHigh / tokens : 0,
      kl: tokens ? klSum / tokens : 0,
      ratioMean: tokens ? ratioSum / tokens : 1,
      ratioMin: tokens ? ratioMin : 1,
      ratioMax: tokens ? ratioMax : 1,
      tokens,
      sequences: B,
      droppedSequences: seqs.length - B,
    },
  };
}
