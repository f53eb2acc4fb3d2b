// RMSNorm: y = x / sqrt(mean(x²) + eps) · w, row by row over [T, C]; the backward beside it.

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
    for (let i = 0; i < C; i++) dot += dy[o + i]! * w[i]! * x[o + i]!;
    dot *= (r * r * r) / C;
    for (let i = 0; i < C; i++) dx[o + i]! += r * dy[o + i]! * w[i]! - x[o + i]! * dot;
    if (dw) for (let i = 0; i < C; i++) dw[i]! += dy[o + i]! * x[o + i]! * r;
  }
}
