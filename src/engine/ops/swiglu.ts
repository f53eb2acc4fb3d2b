// SwiGLU: a = silu(g) ⊙ u, with silu(x) = x · sigmoid(x); the backward beside it. The loops are the row
// kernels' (WebAssembly SIMD, or their scalar definitions in ../wasm/rows.ts).
import { rowKernels } from '../wasm/rows.js';

export function swigluForward(a: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  rowKernels().swigluForward(a, g, u, n);
}

/** dg, du overwritten. */
export function swigluBackward(dg: Float32Array, du: Float32Array, da: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  rowKernels().swigluBackward(dg, du, da, g, u, n);
}
