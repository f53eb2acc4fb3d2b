// Rotary position embedding (Hugging Face's rotate_half): in each head, the pairs (i, i + d/2) rotate by
// the angle pos · theta^(-2i/d). Each row carries its own position (packed batches mix sequences).
// The backward of a rotation is the inverse rotation.

export class RopeTable {
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  constructor(
    readonly headDim: number,
    readonly maxPos: number,
    theta: number,
  ) {
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

/** In place on x [T, heads·d]; row t sits at position pos[t]. sign −1 applies the inverse rotation. */
export function ropeForward(x: Float32Array, T: number, heads: number, rope: RopeTable, pos: Int32Array, sign = 1): void {
  const d = rope.headDim;
  const half = d / 2;
  const { cos, sin } = rope;
  for (let t = 0; t < T; t++) {
    const p = pos[t]! * half;
    for (let h = 0; h < heads; h++) {
      const o = t * heads * d + h * d;
      for (let i = 0; i < half; i++) {
        const c = cos[p + i]!;
        const s = sign * sin[p + i]!;
        const a = x[o + i]!;
        const b = x[o + i + half]!;
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

export function ropeBackward(dx: Float32Array, T: number, heads: number, rope: RopeTable, pos: Int32Array): void {
  ropeForward(dx, T, heads, rope, pos, -1);
}
