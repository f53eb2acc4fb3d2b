// Scratch buffers reused across layers and steps: a named buffer grows to the largest size asked of it
// and is handed out as a view, so the hot path allocates nothing once shapes have been seen.
// Views are not cleared: a caller that accumulates must fill(0) first.

export class Arena {
  private readonly buffers = new Map<string, Float32Array>();

  /** A view of `n` floats of the buffer named `name` (contents unspecified). */
  take(name: string, n: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.length < n) {
      b = new Float32Array(Math.max(n, Math.ceil((b?.length ?? 0) * 1.25)));
      this.buffers.set(name, b);
    }
    return b.subarray(0, n);
  }

  /** `take` and zero. */
  zeros(name: string, n: number): Float32Array {
    const v = this.take(name, n);
    v.fill(0);
    return v;
  }
}
