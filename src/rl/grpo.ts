// The GRPO objective as plain functions of numbers (no model, no I/O). Names follow TRL's GRPOConfig:
// group-relative advantages (scale_rewards), the token-level PPO-clipped ratio against the behaviour
// policy (epsilon, epsilon_high as in DAPO), KL to the reference (beta; k3 or k1 estimator), the loss
// aggregations (loss_type grpo / bnpo / dapo / dr_grpo), mask_truncated_completions, and dropping groups
// whose rewards are all equal (Arctic's online filtering). The output includes d loss / d logp_t for
// each completion token: exactly what Policy.backward takes.
//
// Gradient accumulation follows TRL: grpo, bnpo and dr_grpo normalise within each micro-batch and divide
// by the number of micro-batches; dapo normalises by the completion tokens of the whole step. With one
// micro-batch bnpo and dapo coincide; with several, dapo weighs every token of the step equally and
// bnpo every micro-batch equally.

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
  /** Micro-batches the step's sequences are split into (gradient accumulation); default 1. */
  accumulationSteps?: number;
}

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

/**
 * Advantages of rewards laid out group after group (each of `groupSize`). Completions with `keep[i]`
 * false (their score was an infrastructure failure, not a verdict on them) get advantage 0 and do not
 * enter their group's mean and standard deviation; a group with fewer than two kept completions has no
 * signal (zeroStd).
 */
export function groupAdvantages(rewards: number[], groupSize: number, scale: ScaleRewards, eps = 1e-4, keep?: boolean[]): Advantages {
  if (groupSize < 1 || rewards.length % groupSize !== 0) throw new Error(`${rewards.length} rewards do not split into groups of ${groupSize}`);
  const kept = (i: number) => !keep || keep[i] !== false;
  const groups = rewards.length / groupSize;
  const advantages: number[] = [];
  const zeroStd: boolean[] = [];
  const batchStd = std(rewards.filter((_, i) => kept(i)));
  for (let g = 0; g < groups; g++) {
    const idx = Array.from({ length: groupSize }, (_, j) => g * groupSize + j);
    const rs = idx.filter(kept).map((i) => rewards[i]!);
    const m = mean(rs);
    const s = std(rs);
    const flat = rs.length < 2 || rs.every((r) => r === rs[0]);
    zeroStd.push(flat);
    const denom = scale === 'group' ? s + eps : scale === 'batch' ? batchStd + eps : 1;
    for (const i of idx) advantages.push(kept(i) && !flat ? (rewards[i]! - m) / denom : 0);
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
  /** Its score was an infrastructure failure: not part of the loss. */
  excluded?: boolean;
  /** Micro-batch (gradient accumulation) the sequence belongs to; default 0. */
  micro?: number;
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
  const G = Math.max(1, cfg.accumulationSteps ?? 1);
  const counted = seqs.map((s) => !s.excluded && !(cfg.maskTruncatedCompletions && s.truncated) && !(cfg.dropZeroStdGroups && s.zeroStdGroup));
  const B = counted.filter(Boolean).length;
  const totalTokens = seqs.reduce((a, s, i) => a + (counted[i] ? s.logp.length : 0), 0);
  // per micro-batch: counted sequences and tokens
  const microSeqs = new Map<number, number>();
  const microTokens = new Map<number, number>();
  seqs.forEach((s, i) => {
    if (!counted[i]) return;
    const m = s.micro ?? 0;
    microSeqs.set(m, (microSeqs.get(m) ?? 0) + 1);
    microTokens.set(m, (microTokens.get(m) ?? 0) + s.logp.length);
  });
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
    const m = s.micro ?? 0;
    const Bm = microSeqs.get(m)!;
    const w =
      cfg.lossType === 'grpo' ? 1 / (n * Bm * G) : cfg.lossType === 'dr_grpo' ? 1 / (Bm * cfg.maxCompletionLength * G) : cfg.lossType === 'bnpo' ? 1 / (microTokens.get(m)! * G) : 1 / totalTokens;
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
