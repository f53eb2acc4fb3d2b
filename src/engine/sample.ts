// Choosing the next token from logits: greedy, temperature, top-k, top-p, with a seeded RNG.
// Convention (TRL's and verl's): the logprob reported for a sampled token is under softmax(logits / τ)
// over the whole vocabulary (top-k/top-p only restrict what can be drawn), and the trainer recomputes
// logprobs with the same τ. τ = 0 is greedy, with logprobs under softmax(logits).

export interface TokenChoice {
  token: number;
  logprob: number;
}

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
  const probs = new Float64Array(V);
  for (let j = 0; j < V; j++) {
    const e = Math.exp((logits[j]! - max) / tau);
    probs[j] = e;
    sum += e;
  }
  const logZ = Math.log(sum);
  const logprobOf = (j: number) => (logits[j]! - max) / tau - logZ;
  if (!(opts.temperature > 0)) return { token: argmax, logprob: logprobOf(argmax) };
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
      if (r <= 0) return { token: j, logprob: logprobOf(j) };
    }
    return { token: V - 1, logprob: logprobOf(V - 1) };
  }
  let csum = 0;
  for (const j of candidates) csum += probs[j]!;
  let r = random() * csum;
  for (const j of candidates) {
    r -= probs[j]!;
    if (r <= 0) return { token: j, logprob: logprobOf(j) };
  }
  const last = candidates[candidates.length - 1]!;
  return { token: last, logprob: logprobOf(last) };
}
