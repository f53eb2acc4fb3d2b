// The model's operations over Float32Array, each forward next to its backward with the same names
// (llm.c style). Shapes are row-major; T = tokens, C = channels. Matrix products go through blas.ts.
import { sgemm } from './blas.js';

// ------------------------------------------------------------------ RMSNorm
// y = x / sqrt(mean(x²) + eps) · w

export function rmsnormForward(y: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, T: number, C: number, eps: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * C;
    let ss = 0;
    for (let i = 0; i < C; i++) ss += x[o + i]! * x[o + i]!;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[t] = r;
    for (let i = 0; i < C; i++) y[o + i] = x[o + i]! * r * w[i]!;
  }
}

/** dx += ∂L/∂x; dw += ∂L/∂w (when given). */
export function rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, T: number, C: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * C;
    const r = rstd[t]!;
    let dot = 0;
    for (let i = 0; i < C; i++) dot += dy[o + i]! * w[i]! * x[o + i]! * r;
    dot /= C;
    for (let i = 0; i < C; i++) {
      const xhat = x[o + i]! * r;
      dx[o + i]! += r * (dy[o + i]! * w[i]! - xhat * dot);
      if (dw) dw[i]! += dy[o + i]! * xhat;
    }
  }
}

// ------------------------------------------------------------------ RoPE (Hugging Face rotate_half)
// For each head, pairs (i, i + d/2) rotate by angle pos · theta^(-2i/d).

export class RopeTable {
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  constructor(readonly headDim: number, readonly maxPos: number, theta: number) {
    const half = headDim / 2;
    this.cos = new Float32Array(maxPos * half);
    this.sin = new Float32Array(maxPos * half);
    for (let p = 0; p < maxPos; p++)
      for (let i = 0; i < half; i++) {
        const invFreq = 1 / Math.pow(theta, (2 * i) / headDim);
        // float32 angle, as PyTorch computes pos * inv_freq in float32
        const ang = Math.fround(p * Math.fround(invFreq));
        this.cos[p * half + i] = Math.cos(ang);
        this.sin[p * half + i] = Math.sin(ang);
      }
  }
}

/** In place on x [T, heads·d]; token t sits at position pos0 + t. sign −1 applies the inverse rotation (the backward). */
export function ropeForward(x: Float32Array, T: number, heads: number, rope: RopeTable, pos0: number, sign = 1): void {
  const d = rope.headDim;
  const half = d / 2;
  for (let t = 0; t < T; t++) {
    const p = (pos0 + t) * half;
    for (let h = 0; h < heads; h++) {
      const o = t * heads * d + h * d;
      for (let i = 0; i < half; i++) {
        const c = rope.cos[p + i]!;
        const s = sign * rope.sin[p + i]!;
        const a = x[o + i]!;
        const b = x[o + i + half]!;
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

/** The gradient of a rotation is the inverse rotation of the gradient. */
export function ropeBackward(dx: Float32Array, T: number, heads: number, rope: RopeTable, pos0: number): void {
  ropeForward(dx, T, heads, rope, pos0, -1);
}

// ------------------------------------------------------------------ causal grouped-query attention
// q [T, H·d], k, v [T, G·d]; head h reads kv group h / (H/G). P (saved) [H, T, T]; out [T, H·d].

function gatherHead(dst: Float32Array, src: Float32Array, T: number, stride: number, off: number, d: number): void {
  for (let t = 0; t < T; t++) dst.set(src.subarray(t * stride + off, t * stride + off + d), t * d);
}
function scatterHead(dst: Float32Array, src: Float32Array, T: number, stride: number, off: number, d: number, add: boolean): void {
  for (let t = 0; t < T; t++) {
    if (!add) dst.set(src.subarray(t * d, t * d + d), t * stride + off);
    else for (let i = 0; i < d; i++) dst[t * stride + off + i]! += src[t * d + i]!;
  }
}

export function attentionForward(out: Float32Array, P: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, T: number, H: number, G: number, d: number): void {
  const scale = 1 / Math.sqrt(d);
  const qh = new Float32Array(T * d);
  const kh = new Float32Array(T * d);
  const vh = new Float32Array(T * d);
  const oh = new Float32Array(T * d);
  const rep = H / G;
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / rep);
    gatherHead(qh, q, T, H * d, h * d, d);
    if (h % rep === 0) {
      gatherHead(kh, k, T, G * d, g * d, d);
      gatherHead(vh, v, T, G * d, g * d, d);
    }
    const Ph = P.subarray(h * T * T, (h + 1) * T * T);
    sgemm(false, true, T, T, d, scale, qh, kh, 0, Ph);
    for (let t = 0; t < T; t++) {
      const row = t * T;
      let max = -Infinity;
      for (let j = 0; j <= t; j++) if (Ph[row + j]! > max) max = Ph[row + j]!;
      let sum = 0;
      for (let j = 0; j <= t; j++) {
        const e = Math.exp(Ph[row + j]! - max);
        Ph[row + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j <= t; j++) Ph[row + j]! *= inv;
      for (let j = t + 1; j < T; j++) Ph[row + j] = 0;
    }
    sgemm(false, false, T, d, T, 1, Ph, vh, 0, oh);
    scatterHead(out, oh, T, H * d, h * d, d, false);
  }
}

/** dq, dk, dv are overwritten (not accumulated). */
export function attentionBackward(dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, P: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, T: number, H: number, G: number, d: number): void {
  const scale = 1 / Math.sqrt(d);
  const rep = H / G;
  dk.fill(0);
  dv.fill(0);
  const qh = new Float32Array(T * d);
  const kh = new Float32Array(T * d);
  const vh = new Float32Array(T * d);
  const doh = new Float32Array(T * d);
  const dqh = new Float32Array(T * d);
  const dkh = new Float32Array(T * d);
  const dvh = new Float32Array(T * d);
  const dP = new Float32Array(T * T);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / rep);
    gatherHead(qh, q, T, H * d, h * d, d);
    gatherHead(kh, k, T, G * d, g * d, d);
    gatherHead(vh, v, T, G * d, g * d, d);
    gatherHead(doh, dout, T, H * d, h * d, d);
    const Ph = P.subarray(h * T * T, (h + 1) * T * T);
    // out = P·V: dP = dout·Vᵀ, dV = Pᵀ·dout
    sgemm(false, true, T, T, d, 1, doh, vh, 0, dP);
    sgemm(true, false, T, d, T, 1, Ph, doh, 0, dvh);
    // softmax: dS = P ⊙ (dP − rowsum(dP ⊙ P)), then the 1/sqrt(d) scale
    for (let t = 0; t < T; t++) {
      const row = t * T;
      let dot = 0;
      for (let j = 0; j <= t; j++) dot += dP[row + j]! * Ph[row + j]!;
      for (let j = 0; j <= t; j++) dP[row + j] = Ph[row + j]! * (dP[row + j]! - dot) * scale;
      for (let j = t + 1; j < T; j++) dP[row + j] = 0;
    }
    // S = Q·Kᵀ: dQ = dS·K, dK = dSᵀ·Q
    sgemm(false, false, T, d, T, 1, dP, kh, 0, dqh);
    sgemm(true, false, T, d, T, 1, dP, qh, 0, dkh);
    scatterHead(dq, dqh, T, H * d, h * d, d, false);
    scatterHead(dk, dkh, T, G * d, g * d, d, true);
    scatterHead(dv, dvh, T, G * d, g * d, d, true);
  }
}

// ------------------------------------------------------------------ SwiGLU: a = silu(g) ⊙ u

export function swigluForward(a: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    a[i] = (x / (1 + Math.exp(-x))) * u[i]!;
  }
}

export function swigluBackward(dg: Float32Array, du: Float32Array, da: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    const s = 1 / (1 + Math.exp(-x));
    const silu = x * s;
    du[i] = da[i]! * silu;
    dg[i] = da[i]! * u[i]! * s * (1 + x * (1 - s));
  }
}

// ------------------------------------------------------------------ token logprobs through the LM head, in chunks
// logp_t = z[y_t]/τ − logsumexp(z/τ), z = h_t · Eᵀ. Never holds more than `chunk` × V logits.

export const LOGIT_CHUNK = 64;

export function tokenLogprobsForward(out: Float32Array, h: Float32Array, E: Float32Array, targets: ArrayLike<number>, n: number, C: number, V: number, temperature: number, entropy?: Float32Array): void {
  const tau = temperature > 0 ? temperature : 1;
  const logits = new Float32Array(Math.min(n, LOGIT_CHUNK) * V);
  for (let s = 0; s < n; s += LOGIT_CHUNK) {
    const m = Math.min(LOGIT_CHUNK, n - s);
    sgemm(false, true, m, V, C, 1 / tau, h.subarray(s * C, (s + m) * C), E, 0, logits);
    for (let r = 0; r < m; r++) {
      const row = logits.subarray(r * V, (r + 1) * V);
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (row[j]! > max) max = row[j]!;
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(row[j]! - max);
      const lse = max + Math.log(sum);
      out[s + r] = row[targets[s + r]!]! - lse;
      if (entropy) {
        let ent = 0;
        for (let j = 0; j < V; j++) {
          const lp = row[j]! - lse;
          ent -= Math.exp(lp) * lp;
        }
        entropy[s + r] = ent;
      }
    }
  }
}

/** dh (overwritten) and dE (+=, when given) from per-token weights g: ∂(Σ g_t logp_t)/∂z = g_t (onehot − p)/τ. */
export function tokenLogprobsBackward(dh: Float32Array, dE: Float32Array | null, gw: Float32Array, h: Float32Array, E: Float32Array, targets: ArrayLike<number>, n: number, C: number, V: number, temperature: number): void {
  const tau = temperature > 0 ? temperature : 1;
  const dz = new Float32Array(Math.min(n, LOGIT_CHUNK) * V);
  for (let s = 0; s < n; s += LOGIT_CHUNK) {
    const m = Math.min(LOGIT_CHUNK, n - s);
    const hs = h.subarray(s * C, (s + m) * C);
    sgemm(false, true, m, V, C, 1 / tau, hs, E, 0, dz);
    for (let r = 0; r < m; r++) {
      const row = dz.subarray(r * V, (r + 1) * V);
      const g = gw[s + r]!;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (row[j]! > max) max = row[j]!;
      let sum = 0;
      for (let j = 0; j < V; j++) {
        const e = Math.exp(row[j]! - max);
        row[j] = e;
        sum += e;
      }
      const k = -g / (sum * tau);
      for (let j = 0; j < V; j++) row[j]! *= k;
      row[targets[s + r]!]! += g / tau;
    }
    sgemm(false, false, m, C, V, 1, dz, E, 0, dh.subarray(s * C, (s + m) * C));
    if (dE) sgemm(true, false, V, C, m, 1, dz, hs, 1, dE);
  }
}
