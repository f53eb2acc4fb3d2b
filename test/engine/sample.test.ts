// Choosing the next token against the distribution it must draw from, worked out here in float64:
// softmax(logits / τ) over the whole vocabulary for the reported logprob and entropy; draws restricted to
// the top-k tokens, then to the smallest most-probable set holding top-p of the mass, renormalised;
// greedy at τ = 0. Frequencies over many seeded draws must match within a chi-square bound that a
// correct sampler exceeds with probability about 1e-6.
import assert from 'node:assert/strict';
import test from 'node:test';
import { chooseToken } from '../../src/engine/sample.js';
import { rng } from '../../src/random.js';

const logits = Float32Array.from([2.0, 1.0, 0.5, 0.0, -1.0, 3.0, -0.5, 1.5]);

/** softmax(z / τ) in float64. */
function softmax(z: ArrayLike<number>, tau: number): number[] {
  const x = Array.from(z, (v) => v / tau);
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** The draw distribution: top-k, then the smallest top-p set (by probability), renormalised. */
function drawDistribution(p: number[], topK: number, topP: number): number[] {
  const order = p.map((_, j) => j).sort((a, b) => p[b]! - p[a]! || a - b);
  const keep = new Set<number>();
  let mass = 0;
  for (const j of order.slice(0, topK)) {
    keep.add(j);
    mass += p[j]!;
    if (mass >= topP) break;
  }
  const z = [...keep].reduce((a, j) => a + p[j]!, 0);
  return p.map((v, j) => (keep.has(j) ? v / z : 0));
}

/** Pearson's statistic of observed counts against expected probabilities (cells with p = 0 must stay empty). */
function chiSquare(counts: number[], probs: number[], n: number): { stat: number; dof: number } {
  let stat = 0;
  let dof = -1;
  counts.forEach((c, j) => {
    if (probs[j] === 0) {
      assert.equal(c, 0, `token ${j} is outside the candidate set but was drawn`);
      return;
    }
    const e = n * probs[j]!;
    stat += (c - e) ** 2 / e;
    dof++;
  });
  return { stat, dof };
}

for (const [tau, topK, topP] of [
  [1, 0, 1],
  [0.7, 0, 1],
  [1.3, 3, 1],
  [1, 0, 0.8],
  [0.9, 4, 0.9],
] as const)
  test(`chooseToken τ ${tau}, top-k ${topK || 'off'}, top-p ${topP}: logprob and entropy of softmax(z/τ), draws from the restricted distribution`, () => {
    const p = softmax(logits, tau);
    const want = drawDistribution(p, topK || logits.length, topP);
    const entropy = -p.reduce((a, v) => a + v * Math.log(v), 0);
    const random = rng(1234);
    const n = 40_000;
    const counts = new Array<number>(logits.length).fill(0);
    for (let i = 0; i < n; i++) {
      const c = chooseToken(logits, { temperature: tau, ...(topK ? { topK } : {}), topP }, random);
      counts[c.token]!++;
      if (i < 50) {
        assert.ok(Math.abs(c.logprob - Math.log(p[c.token]!)) < 1e-6, `logprob of ${c.token}: ${c.logprob} vs ${Math.log(p[c.token]!)}`);
        assert.ok(Math.abs(c.entropy - entropy) < 1e-6, `entropy ${c.entropy} vs ${entropy}`);
      }
    }
    const { stat, dof } = chiSquare(counts, want, n);
    // the chi-square upper tail at about 1e-6: dof + 5·√(2·dof) + 10 bounds it for these small dof
    assert.ok(stat < dof + 5 * Math.sqrt(2 * dof) + 10, `chi-square ${stat.toFixed(1)} on ${dof} degrees of freedom; counts ${counts} vs expected ${want.map((v) => (v * n).toFixed(0))}`);
  });

test('chooseToken τ 0: the argmax, with the logprob and entropy of softmax(z)', () => {
  const p = softmax(logits, 1);
  const c = chooseToken(logits, { temperature: 0 }, () => 0.999);
  assert.equal(c.token, 5);
  assert.ok(Math.abs(c.logprob - Math.log(p[5]!)) < 1e-6);
  assert.ok(Math.abs(c.entropy + p.reduce((a, v) => a + v * Math.log(v), 0)) < 1e-6);
});

test('chooseToken with top-k/top-p on a large vocabulary picks what a full sort of the vocabulary picks', () => {
  const V = 6000;
  const gen = rng(77);
  // a few likely tokens over a long flat tail, as in a language model's logits
  const z = Float32Array.from({ length: V }, () => gen() * 6 - 3 + (gen() < 0.002 ? 8 : 0));
  for (const [tau, topK, topP] of [
    [1, 0, 0.9],
    [0.8, 40, 1],
    [1.2, 300, 0.5],
  ] as const) {
    const p = softmax(z, tau);
    // the reference: sort every token, take the top-k, then the top-p prefix, draw by walking it
    const order = p.map((_, j) => j).sort((a, b) => p[b]! - p[a]! || a - b);
    const cand: number[] = [];
    let mass = 0;
    for (const j of order) {
      if (cand.length >= (topK || V)) break;
      cand.push(j);
      mass += p[j]!;
      if (mass >= topP) break;
    }
    const csum = cand.reduce((a, j) => a + p[j]!, 0);
    const draws = rng(5);
    const same = rng(5);
    for (let i = 0; i < 200; i++) {
      const got = chooseToken(z, { temperature: tau, ...(topK ? { topK } : {}), topP }, draws).token;
      let r = same() * csum;
      let want = cand[cand.length - 1]!;
      for (const j of cand) {
        r -= p[j]!;
        if (r <= 0) {
          want = j;
          break;
        }
      }
      assert.equal(got, want, `τ ${tau} top-k ${topK} top-p ${topP}, draw ${i}`);
    }
  }
});
