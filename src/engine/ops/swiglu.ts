// SwiGLU: a = silu(g) ⊙ u, with silu(x) = x · sigmoid(x); the backward beside it.
import { sigmoid } from '../math.js';

export function swigluForward(a: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    a[i] = x * sigmoid(x) * u[i]!;
  }
}

/** dg, du overwritten. */
export function swigluBackward(dg: Float32Array, du: Float32Array, da: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    const s = sigmoid(x);
    du[i] = da[i]! * x * s;
    dg[i] = da[i]! * u[i]! * s * (1 + x * (1 - s));
  }
}
