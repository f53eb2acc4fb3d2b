// Token logprobs through the LM head, in chunks of rows: logp_t = z[y_t]/τ − logsumexp(z/τ), z = h_t·Eᵀ,
// never holding more than CHUNK × V logits; optionally each row's entropy. The backward beside it. The
// passes over the vocabulary are the row kernels' (the logits live in their memory).
import { sgemm } from '../blas.js';
import { rowKernels } from '../wasm/rows.js';

export const LOGIT_CHUNK = 64;

export function tokenLogprobsForward(out: Float32Array, h: Float32Array, E: Float32Array, targets: ArrayLike<number>, n: number, C: number, V: number, temperature: number, entropy?: Float32Array): void {
  const tau = temperature > 0 ? temperature : 1;
  const K = rowKernels();
  const rows = Math.min(n, LOGIT_CHUNK);
  const logits = K.take('lm.logits', rows * V);
  const [max, sum, dot] = [K.take('lm.max', rows), K.take('lm.sum', rows), K.take('lm.dot', rows)];
  for (let s = 0; s < n; s += LOGIT_CHUNK) {
    const m = Math.min(LOGIT_CHUNK, n - s);
    sgemm(false, true, m, V, C, 1 / tau, h.subarray(s * C, (s + m) * C), E, 0, logits);
    K.logSumExpRows(logits, V, m, V, max, sum, dot);
    for (let r = 0; r < m; r++) {
      const lse = max[r]! + Math.log(sum[r]!);
      out[s + r] = logits[r * V + targets[s + r]!]! - lse;
      // H = lse − E_p[z]
      if (entropy) entropy[s + r] = lse - dot[r]! / sum[r]!;
    }
  }
}

/**
 * dh (overwritten) and dE (+=, when given) from per-row weights g: ∂(Σ g_t logp_t)/∂z = g_t (onehot − p)/τ;
 * `logprobs`, when given, receives each row's logp_t (computed on the way).
 */
export function tokenLogprobsBackward(dh: Float32Array, dE: Float32Array | null, gw: Float32Array, h: Float32Array, E: Float32Array, targets: ArrayLike<number>, n: number, C: number, V: number, temperature: number, logprobs?: Float32Array): void {
  const tau = temperature > 0 ? temperature : 1;
  const K = rowKernels();
  const rows = Math.min(n, LOGIT_CHUNK);
  const dz = K.take('lm.logits', rows * V);
  const [max, sum, scale] = [K.take('lm.max', rows), K.take('lm.sum', rows), K.take('lm.scale', rows)];
  for (let s = 0; s < n; s += LOGIT_CHUNK) {
    const m = Math.min(LOGIT_CHUNK, n - s);
    const hs = h.subarray(s * C, (s + m) * C);
    sgemm(false, true, m, V, C, 1 / tau, hs, E, 0, dz);
    // e^(z − max) in place, then each row times −g/(Σ·τ): −g·p/τ; the target gets + g/τ
    if (logprobs) for (let r = 0; r < m; r++) logprobs[s + r] = dz[r * V + targets[s + r]!]!;
    K.softmaxRows(dz, V, m, V, 0, null, 0, max, sum);
    if (logprobs) for (let r = 0; r < m; r++) logprobs[s + r]! -= max[r]! + Math.log(sum[r]!);
    for (let r = 0; r < m; r++) scale[r] = -gw[s + r]! / (sum[r]! * tau);
    K.scaleRows(dz, V, m, V, scale);
    for (let r = 0; r < m; r++) dz[r * V + targets[s + r]!]! += gw[s + r]! / tau;
    sgemm(false, false, m, C, V, 1, dz, E, 0, dh.subarray(s * C, (s + m) * C));
    if (dE) sgemm(true, false, V, C, m, 1, dz, hs, 1, dE);
  }
}
