// A linear layer y = x·Wᵀ + b with an optional LoRA adapter: y += scale · (drop(x)·Aᵀ)·Bᵀ; the backward
// beside it. W is [out, in] (the Hugging Face layout). LoRA dropout masks come from a hash of
// (seed, element), so a recomputed forward (gradient checkpointing) draws exactly the same mask.
import { sgemm } from '../blas.js';

export interface Param {
  name: string;
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
}

export interface LoraAdapter {
  A: Param; // [r, in]
  B: Param; // [out, r]
  scale: number; // alpha / r
  dropout: number;
}

export interface Linear {
  name: string;
  out: number;
  in: number;
  w: Float32Array;
  b: Float32Array | null;
  /** Present when the base weight itself trains (full-parameter mode). */
  wGrad: Float32Array | null;
  bGrad: Float32Array | null;
  lora: LoraAdapter | null;
}

/** How the adapter takes part in a pass: off (the base model), on, or on with a dropout mask seed. */
export interface AdapterMode {
  on: boolean;
  /** Dropout mask seed for this pass and layer; null = no dropout (inference). */
  dropSeed: number | null;
}

/** Uniform in [0, 1) from (seed, index): a 32-bit integer hash (lowbias32). */
function hashUniform(seed: number, i: number): number {
  let h = (Math.imul(i, 0x9e3779b1) ^ seed) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** x with LoRA dropout applied (kept elements scaled by 1/(1−p)) into `out`. */
function dropInput(out: Float32Array, x: Float32Array, n: number, p: number, seed: number): void {
  const keep = 1 / (1 - p);
  for (let i = 0; i < n; i++) out[i] = hashUniform(seed, i) < p ? 0 : x[i]! * keep;
}

const usesDropout = (lin: Linear, mode: AdapterMode) => mode.on && lin.lora !== null && lin.lora.dropout > 0 && mode.dropSeed !== null;

/**
 * y = x·Wᵀ + b (+ adapter) over T rows, or y += that with `accumulate` (a residual connection, added by
 * the product itself). `h` receives the adapter's hidden rows drop(x)·Aᵀ [T, r] (kept for the backward);
 * `scratch` holds the dropped-out input when dropout is on.
 */
export function linearForward(lin: Linear, x: Float32Array, T: number, y: Float32Array, mode: AdapterMode, h: Float32Array | null, scratch: () => Float32Array, accumulate = false): void {
  sgemm(false, true, T, lin.out, lin.in, 1, x, lin.w, accumulate ? 1 : 0, y);
  if (lin.b) {
    const b = lin.b;
    for (let t = 0; t < T; t++) {
      const o = t * lin.out;
      for (let j = 0; j < lin.out; j++) y[o + j]! += b[j]!;
    }
  }
  if (!mode.on || !lin.lora) return;
  const hidden = adapterHidden(lin, x, T, h ?? scratch(), mode, scratch);
  sgemm(false, true, T, lin.out, lin.lora.A.shape[0]!, lin.lora.scale, hidden, lin.lora.B.data, 1, y);
}

/**
 * The adapter's hidden rows drop(x)·Aᵀ [T, r] into h, and h: what the backward needs of a forward whose
 * output is not needed (a layer recomputed for its backward).
 */
export function adapterHidden(lin: Linear, x: Float32Array, T: number, h: Float32Array, mode: AdapterMode, scratch: () => Float32Array): Float32Array {
  const A = lin.lora!.A;
  let xin = x;
  if (usesDropout(lin, mode)) {
    xin = scratch();
    dropInput(xin, x, T * lin.in, lin.lora!.dropout, mode.dropSeed!);
  }
  sgemm(false, true, T, A.shape[0]!, lin.in, 1, xin, A.data, 0, h);
  return h;
}

/**
 * dx += ∂L/∂x for dy = ∂L/∂y, and the parameter gradients (base weight and bias in full training, the
 * adapter's A and B). `x` and `h` are the forward's input and adapter hidden rows.
 */
export function linearBackward(lin: Linear, dy: Float32Array, T: number, dx: Float32Array, x: Float32Array, h: Float32Array | null, mode: AdapterMode, scratch: () => Float32Array, dhScratch: () => Float32Array): void {
  sgemm(false, false, T, lin.in, lin.out, 1, dy, lin.w, 1, dx);
  if (lin.wGrad) sgemm(true, false, lin.out, lin.in, T, 1, dy, x, 1, lin.wGrad);
  if (lin.bGrad) {
    const bg = lin.bGrad;
    for (let t = 0; t < T; t++) {
      const o = t * lin.out;
      for (let j = 0; j < lin.out; j++) bg[j]! += dy[o + j]!;
    }
  }
  if (!mode.on || !lin.lora || !h) return;
  const { A, B, scale, dropout } = lin.lora;
  const r = A.shape[0]!;
  // y += scale · h·Bᵀ with h = x'·Aᵀ: dB += scale · dyᵀ·h; dh = scale · dy·B; dA += dhᵀ·x'; dx' = dh·A
  sgemm(true, false, lin.out, r, T, scale, dy, h, 1, B.grad);
  const dh = dhScratch();
  sgemm(false, false, T, r, lin.out, scale, dy, B.data, 0, dh);
  if (usesDropout(lin, mode)) {
    const xd = scratch();
    dropInput(xd, x, T * lin.in, dropout, mode.dropSeed!);
    sgemm(true, false, r, lin.in, T, 1, dh, xd, 1, A.grad);
    // dx += mask/(1−p) ⊙ (dh·A): reuse the scratch for dh·A, then apply the same mask
    sgemm(false, false, T, lin.in, r, 1, dh, A.data, 0, xd);
    const keep = 1 / (1 - dropout);
    const seed = mode.dropSeed!;
    for (let i = 0; i < T * lin.in; i++) if (hashUniform(seed, i) >= dropout) dx[i]! += xd[i]! * keep;
  } else {
    sgemm(true, false, r, lin.in, T, 1, dh, x, 1, A.grad);
    sgemm(false, false, T, lin.in, r, 1, dh, A.data, 1, dx);
  }
}
