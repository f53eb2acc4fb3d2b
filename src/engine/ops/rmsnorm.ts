// RMSNorm: y = x / sqrt(mean(x²) + eps) · w, row by row over [T, C]; the backward beside it. The loops are
// the row kernels' (WebAssembly SIMD, or their scalar definitions in ../wasm/rows.ts).
import { rowKernels } from '../wasm/rows.js';

export function rmsnormForward(y: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, T: number, C: number, eps: number): void {
  rowKernels().rmsnormForward(y, rstd, x, w, T, C, eps);
}

/** dx += ∂L/∂x; dw += ∂L/∂w (when given). */
export function rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, T: number, C: number): void {
  rowKernels().rmsnormBackward(dx, dw, dy, x, w, rstd, T, C);
}
