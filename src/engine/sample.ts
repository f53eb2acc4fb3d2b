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

/**
 * The most probable tokens, in order (probability descending, then index), at least up to where the
 * top-k or top-p candidate set ends. Not a sort of the whole vocabulary (~19 ms per token at 49k): a
 * threshold is lowered by 4× until the tokens above it hold k tokens or top-p of the mass (none below it
 * can then be a candidate), and only those are sorted.
 */
function rankedHead(probs: Float64Array, V: number, sum: number, topK: number, topP: number): number[] {
  let max = 0;
  let min = Infinity;
  for (let j = 0; j < V; j++) {
    if (probs[j]! > max) max = probs[j]!;
    if (probs[j]! < min) min = probs[j]!;
  }
  let t = max;
  for (;;) {
    let count = 0;
    let mass = 0;
    for (let j = 0; j < V; j++)
      if (probs[j]! >= t) {
        count++;
        mass += probs[j]!;
      }
    if (count >= topK || mass / sum >= topP || t <= min) break;
    t /= 4;
  }
  const head: number[] = [];
  for (let j = 0; j < V; j++) if (probs[j]! >= t) head.push(j);
  return head.sort((a, b) => probs[b]! - probs[a]! || a - b);
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
    candidates = [];
    let mass = 0;
    for (const j of rankedHead(probs, V, sum, topK, topP)) {
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
