// Token logprobs through the LM head, in chunks of rows: logp_t = z[y_t]/τ − logsumexp(z/τ), z = h_t·Eᵀ,
// never holding more than CHUNK × V logits; optionally each row's entropy. The backward beside it.
import type { Arena } from '../arena.js';
import { sgemm } from '../blas.js';
import { fastExp } from '../math.js';

export const LOGIT_CHUNK = 64;

export function tokenLogprobsForward(out: Float32Array, h: Float32Array, E: Float32Array, targets: ArrayLike<number>, n: number, C: number, V: number, temperature: number, arena: Arena, entropy?: Float32Array): void {
  const tau = temperature > 0 ? temperature : 1;
  const logits = arena.take('lm.logits', Math.min(n, LOGIT_CHUNK) * V);
  for (let s = 0; s < n; s += LOGIT_CHUNK) {
    const m = Math.min(LOGIT_CHUNK, n - s);
    sgemm(false, true, m, V, C, 1 / tau, h.subarray(s * C, (s + m) * C), E, 0, logits);
    for (let r = 0; r < m; r++) {
      const o = r * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (logits[o + j]! > max) max = logits[o + j]!;
      let sum = 0;
      let zp = 0;
      for (let j = 0; j < V; j++) {
        const e = fastExp(logits[o + j]! - max);
        sum += e;
        zp += e * logits[o + j]!;
      }
      const lse = max + Math.log(sum);
      out[s + r] = logits[o + targets[s + r]!]! - lse;
      // H = lse − E_p[z]
      if (entropy) entropy[s + r] = lse - zp / sum;
    }
  }
}

/** dh (overwritten) and dE (+=, when given) from per-row weights g: ∂(Σ g_t logp_t)/∂z = g_t (onehot − p)/τ. */
export function tokenLogprobsBackward(dh: Float32Array, dE: Float32Array | null, gw: Float32Array, h: Float32Array, E: Float32Array, targets: ArrayLike<number>, n: number, C: number, V: number, temperature: number, arena: Arena): void {
  const tau = temperature > 0 ? temperature : 1;
  const dz = arena.take('lm.logits', Math.min(n, LOGIT_CHUNK) * V);
  for (let s = 0; s < n; s += LOGIT_CHUNK) {
    const m = Math.min(LOGIT_CHUNK, n - s);
    const hs = h.subarray(s * C, (s + m) * C);
    sgemm(false, true, m, V, C, 1 / tau, hs, E, 0, dz);
    for (let r = 0; r < m; r++) {
      const o = r * V;
      const g = gw[s + r]!;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (dz[o + j]! > max) max = dz[o + j]!;
      let sum = 0;
      for (let j = 0; j < V; j++) {
        const e = fastExp(dz[o + j]! - max);
        dz[o + j] = e;
        sum += e;
      }
      const k = -g / (sum * tau);
      for (let j = 0; j < V; j++) dz[o + j]! *= k;
      dz[o + targets[s + r]!]! += g / tau;
    }
    sgemm(false, false, m, C, V, 1, dz, E, 0, dh.subarray(s * C, (s + m) * C));
    if (dE) sgemm(true, false, V, C, m, 1, dz, hs, 1, dE);
  }
}
