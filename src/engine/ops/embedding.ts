// Token embedding: row t of x is row tokens[t] of the table E [V, C]; the backward scatters into E's gradient.

export function embeddingForward(x: Float32Array, E: Float32Array, tokens: ArrayLike<number>, T: number, C: number, V: number): void {
  for (let t = 0; t < T; t++) {
    const id = tokens[t]!;
    if (id < 0 || id >= V) throw new Error(`token id ${id} outside the vocabulary (${V})`);
    x.set(E.subarray(id * C, (id + 1) * C), t * C);
  }
}

export function embeddingBackward(dE: Float32Array, dx: Float32Array, tokens: ArrayLike<number>, T: number, C: number): void {
  for (let t = 0; t < T; t++) {
    const o = tokens[t]! * C;
    for (let i = 0; i < C; i++) dE[o + i]! += dx[t * C + i]!;
  }
}
