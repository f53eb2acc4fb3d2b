// Choosing the next token from logits: greedy, temperature, top-k, top-p, with a seeded RNG.
// Convention (TRL's and verl's): the logprob reported for a sampled token is under softmax(logits / τ)
// over the whole vocabulary (top-k/top-p only restrict what can be drawn), and the trainer recomputes
// logprobs with the same τ. τ = 0 is greedy, with logprobs under softmax(logits).

import { fastExp } from './math.js';

export interface TokenChoice {
  token: number;
  logprob: number;
  /** Entropy of softmax(logits / τ) (nats): the policy's uncertainty at this position. */
  entropy: number;
}

/** Reused across calls: a vocabulary-sized buffer per token would be most of sampling's garbage. */
let scratch = new Float64Array(0);

export function chooseToken(logits: Float32Array, opts: { temperature: number; topP?: number; topK?: number }, random: () => number): TokenChoice {
  const V = logits.length;
  const tau = opts.temperature > 0 ? opts.temperature : 1;
  let max = -Infinity;
  let argmax = 0;
  for (let j = 0; j < V; j++)
    if (logits[j]! > max) {
      max = logits[j]!;
      argmax = j;
    }
  let sum = 0;
  let zp = 0;
  if (scratch.length < V) scratch = new Float64Array(V);
  const probs = scratch;
  for (let j = 0; j < V; j++) {
    const z = (logits[j]! - max) / tau;
    const e = fastExp(z);
    probs[j] = e;
    sum += e;
    zp += e * z;
  }
  const logZ = Math.log(sum);
  const entropy = logZ - zp / sum;
  const logprobOf = (j: number) => (logits[j]! - max) / tau - logZ;
  const choice = (j: number): TokenChoice => ({ token: j, logprob: logprobOf(j), entropy });
  if (!(opts.temperature > 0)) return choice(argmax);
  // Candidate set: top-k, then the smallest prefix (by probability) holding top-p of the mass.
  const topK = opts.topK && opts.topK > 0 ? Math.min(opts.topK, V) : V;
  const topP = opts.topP !== undefined && opts.topP < 1 ? opts.topP : 1;
  let candidates: number[] | null = null;
  if (topK < V || topP < 1) {
    const order = Array.from({ length: V }, (_, j) => j).sort((a, b) => probs[b]! - probs[a]! || a - b);
    candidates = [];
    let mass = 0;
    for (const j of order) {
      if (candidates.length >= topK) break;
      candidates.push(j);
      mass += probs[j]! / sum;
      if (mass >= topP) break;
    }
  }
  if (!candidates) {
    let r = random() * sum;
    for (let j = 0; j < V; j++) {
      r -= probs[j]!;
      if (r <= 0) return choice(j);
    }
    return choice(V - 1);
  }
  let csum = 0;
  for (const j of candidates) csum += probs[j]!;
  let r = random() * csum;
  for (const j of candidates) {
    r -= probs[j]!;
    if (r <= 0) return choice(j);
  }
  return choice(candidates[candidates.length - 1]!);
}
