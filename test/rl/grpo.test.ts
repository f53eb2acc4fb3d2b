// The GRPO objective: exact values on hand-worked cases, and d loss / d logp against finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupAdvantages, grpoLoss, std, type GrpoConfig, type GrpoSequence } from '../../src/rl/grpo.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('std is the unbiased estimator (torch.std)', () => {
  close(std([1, 2, 3, 4]), Math.sqrt(5 / 3));
  assert.equal(std([7]), 0);
});

test('group advantages: (r − mean) / (std + eps); mean-only; batch std; zero-variance groups flagged', () => {
  const r = [1, 0, 0, 1, 0.5, 0.5];
  const g = groupAdvantages(r, 2, 'group', 1e-4);
  const s = Math.SQRT1_2; // std of [1, 0] with n − 1
  close(g.advantages[0]!, 0.5 / (s + 1e-4));
  close(g.advantages[1]!, -0.5 / (s + 1e-4));
  assert.deepEqual(g.advantages.slice(4), [0, 0]);
  assert.deepEqual(g.zeroStd, [false, false, true]);
  assert.deepEqual(groupAdvantages(r, 2, 'none').advantages, [0.5, -0.5, -0.5, 0.5, 0, 0]);
  const b = groupAdvantages(r, 3, 'batch', 0);
  close(b.advantages[0]!, (1 - 1 / 3) / std(r));
  assert.throws(() => groupAdvantages([1, 2, 3], 2, 'group'), /do not split into groups of 2/);
});

/** TRL's defaults, written out: clip 0.2, no KL, dapo, group scaling, eps 1e-4. */
const BASE: GrpoConfig = { epsilon: 0.2, beta: 0, klEstimator: 'k3', lossType: 'dapo', maxCompletionLength: 256, scaleRewards: 'group', eps: 1e-4, maskTruncatedCompletions: false, dropZeroStdGroups: true };
const cfg = (over: Partial<GrpoConfig>): GrpoConfig => ({ ...BASE, dropZeroStdGroups: false, ...over });

test('on-policy (ratio 1): loss = −mean advantage per token; gradient −A·w per token', () => {
  const seqs: GrpoSequence[] = [
    { logp: [-1, -2], oldLogp: [-1, -2], advantage: 1, truncated: false },
    { logp: [-0.5, -0.5, -0.5, -0.5], oldLogp: [-0.5, -0.5, -0.5, -0.5], advantage: -1, truncated: false },
  ];
  // bnpo/dapo: token mean over the batch: (−1·2 + 1·4) / 6
  const dapo = grpoLoss(seqs, cfg({ lossType: 'dapo' }));
  close(dapo.loss, 2 / 6);
  assert.deepEqual(Array.from(dapo.dLogprob[0]!), [Math.fround(-1 / 6), Math.fround(-1 / 6)]);
  assert.deepEqual(Array.from(dapo.dLogprob[1]!), Array(4).fill(Math.fround(1 / 6)));
  // grpo: per-sequence mean, then mean over sequences: (−1 + 1) / 2 = 0; weights 1/(n·B)
  const grpo = grpoLoss(seqs, cfg({ lossType: 'grpo' }));
  close(grpo.loss, 0);
  close(grpo.dLogprob[0]![0]!, -1 / 4, 1e-7);
  close(grpo.dLogprob[1]![0]!, 1 / 8, 1e-7);
  // dr_grpo: sum / (B · max_completion_length)
  const dr = grpoLoss(seqs, cfg({ lossType: 'dr_grpo', maxCompletionLength: 10 }));
  close(dr.loss, (-2 + 4) / 20);
  assert.equal(dr.metrics.clipFrac, 0);
  assert.equal(dr.metrics.ratioMean, 1);
});

test('clipping: A > 0 stops above 1 + epsilon_high, A < 0 stops below 1 − epsilon (DAPO asymmetric)', () => {
  const up = Math.log(1.5);
  const seqs: GrpoSequence[] = [
    { logp: [up, 0], oldLogp: [0, 0], advantage: 2, truncated: false }, // ratio 1.5 > 1.28: clipped, no gradient
    { logp: [Math.log(0.7), Math.log(1.1)], oldLogp: [0, 0], advantage: -1, truncated: false }, // 0.7 < 0.8: clipped
  ];
  const r = grpoLoss(seqs, cfg({ lossType: 'bnpo', epsilon: 0.2, epsilonHigh: 0.28 }));
  // token losses: −1.28·2, −1·2, −(0.8·−1), −(1.1·−1)
  close(r.loss, (-2.56 - 2 + 0.8 + 1.1) / 4, 1e-9);
  assert.deepEqual(Array.from(r.dLogprob[0]!), [0, Math.fround(-2 / 4)]);
  assert.deepEqual(Array.from(r.dLogprob[1]!), [0, Math.fround((1.1 * 1) / 4)]);
  assert.equal(r.metrics.clipHighFrac, 1 / 4);
  assert.equal(r.metrics.clipLowFrac, 1 / 4);
  close(r.metrics.ratioMax, 1.5);
});

test('KL to the reference: k3 = exp(ref − logp) − (ref − logp) − 1, weighted by beta', () => {
  const seqs: GrpoSequence[] = [{ logp: [-1], oldLogp: [-1], refLogp: [-1.5], advantage: 0, truncated: false }];
  const r = grpoLoss(seqs, cfg({ beta: 0.1, lossType: 'bnpo' }));
  const kl = Math.exp(-0.5) + 0.5 - 1;
  close(r.loss, 0.1 * kl);
  close(r.metrics.kl, kl);
  close(r.dLogprob[0]![0]!, 0.1 * (1 - Math.exp(-0.5)), 1e-7);
});

test('masking: truncated completions and all-equal groups leave the loss but are counted', () => {
  const seqs: GrpoSequence[] = [
    { logp: [-1], oldLogp: [-1], advantage: 1, truncated: true },
    { logp: [-1, -1], oldLogp: [-1, -1], advantage: -1, truncated: false },
    { logp: [-1], oldLogp: [-1], advantage: 0, truncated: false, zeroStdGroup: true },
  ];
  const r = grpoLoss(seqs, { ...BASE, maskTruncatedCompletions: true, dropZeroStdGroups: true, lossType: 'bnpo' });
  close(r.loss, 1);
  assert.deepEqual(Array.from(r.dLogprob[0]!), [0]);
  assert.deepEqual(Array.from(r.dLogprob[2]!), [0]);
  assert.equal(r.metrics.sequences, 1);
  assert.equal(r.metrics.droppedSequences, 2);
});

test('d loss / d logp matches central finite differences for every loss type, with clipping and KL', () => {
  const make = (): GrpoSequence[] => [
    { logp: [-0.9, -1.7, -0.2], oldLogp: [-1, -1.5, -0.25], refLogp: [-1.1, -1.4, -0.3], advantage: 1.3, truncated: false },
    { logp: [-2.1, -0.4], oldLogp: [-2, -0.7], refLogp: [-2.2, -0.5], advantage: -0.8, truncated: false },
  ];
  for (const lossType of ['grpo', 'bnpo', 'dapo', 'dr_grpo'] as const) {
    for (const klEstimator of ['k3', 'k1'] as const) {
      const c = cfg({ lossType, beta: 0.05, klEstimator, epsilon: 0.2, epsilonHigh: 0.28, maxCompletionLength: 8 });
      const base = grpoLoss(make(), c);
      make().forEach((s, i) => {
        for (let t = 0; t < s.logp.length; t++) {
          const h = 1e-6;
          const plus = make();
          (plus[i]!.logp as number[])[t]! += h;
          const minus = make();
          (minus[i]!.logp as number[])[t]! -= h;
          const fd = (grpoLoss(plus, c).loss - grpoLoss(minus, c).loss) / (2 * h);
          close(base.dLogprob[i]![t]!, fd, 1e-6);
        }
      });
    }
  }
});

test('completions scored as infrastructure failures stay out of their group: advantage 0, not in the mean or std, not in the loss', () => {
  // group 1: rewards 1, 0, (excluded 5) -> mean 0.5, std sqrt(0.5) over the two kept; group 2: one kept -> no signal
  const a = groupAdvantages([1, 0, 5, 2, 7, 7], 3, 'group', 0, [true, true, false, true, false, false]);
  close(a.advantages[0]!, 0.5 / Math.sqrt(0.5));
  close(a.advantages[1]!, -0.5 / Math.sqrt(0.5));
  assert.equal(a.advantages[2], 0);
  assert.deepEqual(a.advantages.slice(3), [0, 0, 0]);
  assert.deepEqual(a.zeroStd, [false, true]);
  const r = grpoLoss(
    [
      { logp: [-1, -1], oldLogp: [-1, -1], advantage: 1, truncated: false },
      { logp: [-1], oldLogp: [-1], advantage: 0, truncated: false, excluded: true },
    ],
    cfg({ lossType: 'dapo' }),
  );
  assert.equal(r.metrics.sequences, 1);
  assert.equal(r.metrics.tokens, 2);
  assert.deepEqual(Array.from(r.dLogprob[1]!), [0]);
  close(r.dLogprob[0]![0]!, -0.5, 1e-7);
});

test('gradient accumulation as TRL: bnpo/grpo/dr_grpo normalise per micro-batch and divide by their number; dapo by all tokens of the step', () => {
  // micro-batch 0: one sequence of 1 token (A = 1); micro-batch 1: one sequence of 3 tokens (A = 1); ratio 1
  const seqs: GrpoSequence[] = [
    { logp: [-1], oldLogp: [-1], advantage: 1, truncated: false, micro: 0 },
    { logp: [-1, -1, -1], oldLogp: [-1, -1, -1], advantage: 1, truncated: false, micro: 1 },
  ];
  const d = (lossType: GrpoConfig['lossType']) => grpoLoss(seqs, cfg({ lossType, accumulationSteps: 2, maxCompletionLength: 4 })).dLogprob.map((x) => Array.from(x));
  // dapo: every token weighs 1/4 (4 tokens in the step)
  d('dapo').flat().forEach((v) => close(v, -1 / 4, 1e-7));
  // bnpo: micro-batch 0 token weighs 1/(1·2), micro-batch 1 tokens 1/(3·2)
  close(d('bnpo')[0]![0]!, -1 / 2, 1e-7);
  d('bnpo')[1]!.forEach((v) => close(v, -1 / 6, 1e-7));
  // grpo: per-sequence mean, over 1 sequence per micro-batch, halved: same as bnpo here
  close(d('grpo')[0]![0]!, -1 / 2, 1e-7);
  d('grpo')[1]!.forEach((v) => close(v, -1 / 6, 1e-7));
  // dr_grpo: 1 / (sequences · max length · micro-batches) = 1/8 for every token
  d('dr_grpo').flat().forEach((v) => close(v, -1 / 8, 1e-7));
  // with one micro-batch, bnpo and dapo are the same loss
  const one = seqs.map((s) => ({ ...s, micro: 0 }));
  assert.deepEqual(grpoLoss(one, cfg({ lossType: 'bnpo' })).dLogprob.map((x) => Array.from(x)), grpoLoss(one, cfg({ lossType: 'dapo' })).dLogprob.map((x) => Array.from(x)));
});
