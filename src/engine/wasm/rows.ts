// The row kernels: the engine's elementwise passes (attention's softmax rows forward and backward,
// SwiGLU, RMSNorm, the LM head's log-sum-exp, AdamW) in WebAssembly SIMD (./assembly/rows.ts, built
// into dist/engine/wasm/rows.wasm), three to five times the scalar TypeScript loops they replace; those
// loops (JsRows) stay as the fallback when the kernel is not built (SQLRL_ROWS=js forces them, for tests
// and benchmarks) and as the definitions the kernel is tested against.
//
// Score rows live in the kernel's memory: `take` hands out named views of it (like Arena.take), which
// the BLAS writes into and reads from in place. SwiGLU's, RMSNorm's and AdamW's operands live anywhere:
// they are streamed through the memory in chunks that stay in the L2 cache.
import { existsSync, readFileSync } from 'node:fs';
import { fastExp, sigmoid } from '../math.js';

const BUILD_DIR = new URL('../../../dist/engine/wasm/', import.meta.url);
/** Floats per chunk of a streamed operand (6 operands: 384 KB). */
const CHUNK = 16384;

export interface RowKernels {
  /** 'wasm' or 'js' (the scalar fallback), with why when it is the fallback. */
  readonly kind: 'wasm' | 'js';
  readonly reason?: string;
  /** A view of `n` floats named `name` that the softmax kernels accept (contents unspecified). */
  take(name: string, n: number): Float32Array;
  /**
   * Softmax numerators of m rows of `s` (leading dimension ld; row i sees its first
   * min(vis0 + ⌊i/rep⌋, ld) columns, or vis0 when rep = 0) and, when `pre` is given, all np columns of
   * row i of `pre` too: each visible entry becomes e^(x − max) with the row's max over both parts,
   * the rest of the row 0; max[i] and sum[i] receive the row's max and Σ. Arrays from `take`.
   */
  softmaxRows(s: Float32Array, ld: number, m: number, vis0: number, rep: number, pre: Float32Array | null, np: number, max: Float32Array, sum: Float32Array): void;
  /**
   * softmaxRows with a window per row: row i sees columns [lo[i], lo[i] + vis[i]) of `s` (and all np
   * columns of its `pre` row); the rest of the row becomes 0. lo and vis hold integers. Arrays from `take`.
   */
  softmaxRowsWindowed(s: Float32Array, ld: number, m: number, lo: Float32Array, vis: Float32Array, pre: Float32Array | null, np: number, max: Float32Array, sum: Float32Array): void;
  /**
   * The softmax backward on rows laid out as in softmaxRows: p becomes the probabilities (p·scale[i]
   * when `scale` is given, p holding numerators; else e^(p − shift[i]), p holding scores and shift each
   * row's log-sum-exp), ds (∂L/∂p on entry) becomes p ⊙ (ds − D[i]); both 0 past the visible columns.
   * Arrays from `take`.
   */
  softmaxGradRows(p: Float32Array, ds: Float32Array, ld: number, m: number, vis0: number, rep: number, shift: Float32Array, scale: Float32Array | null, D: Float32Array): void;
  /** a = silu(g) ⊙ u over n floats. */
  swigluForward(a: Float32Array, g: Float32Array, u: Float32Array, n: number): void;
  /** du = da ⊙ silu(g), dg = da ⊙ u ⊙ silu'(g), overwritten. */
  swigluBackward(dg: Float32Array, du: Float32Array, da: Float32Array, g: Float32Array, u: Float32Array, n: number): void;
  /**
   * Per row of m rows of n floats (leading dimension ld) of `z`: max[i], sum[i] = Σ e^(z − max) and
   * dot[i] = Σ e^(z − max)·z (log-sum-exp and entropy of logits); z unchanged. Arrays from `take`.
   */
  logSumExpRows(z: Float32Array, ld: number, m: number, n: number, max: Float32Array, sum: Float32Array, dot: Float32Array): void;
  /** Row i of `x` (m rows of n floats, leading dimension ld) times scale[i]. Arrays from `take`. */
  scaleRows(x: Float32Array, ld: number, m: number, n: number, scale: Float32Array): void;
  /**
   * One AdamW step over n weights (PyTorch's semantics): w ← w·decay; m ← β1·m + (1−β1)·g;
   * v ← β2·v + (1−β2)·g²; w ← w − stepSize·m / (√v / bc2Sqrt + eps). Arrays anywhere.
   */
  adamw(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, o: AdamWStep): void;
  /** RMSNorm over T rows of C: y = x / √(mean(x²) + eps) · w; rstd[t] receives each row's 1/√(…). */
  rmsnormForward(y: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, T: number, C: number, eps: number): void;
  /** dx += ∂L/∂x; dw += ∂L/∂w (when given). */
  rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, T: number, C: number): void;
}

export interface AdamWStep {
  beta1: number;
  beta2: number;
  stepSize: number;
  bc2Sqrt: number;
  eps: number;
  decay: number;
}

const visible = (i: number, vis0: number, rep: number, ld: number) => (rep > 0 ? Math.min(vis0 + Math.floor(i / rep), ld) : vis0);

/** Row i of s (ld floats) seeing columns [a, a + n), and row i of pre: numerators in place, the rest 0. */
function softmaxRow(s: Float32Array, i: number, ld: number, a: number, n: number, pre: Float32Array | null, np: number, max: Float32Array, sum: Float32Array): void {
  const [w0, w1] = [i * ld + a, i * ld + a + n];
  let mx = -Infinity;
  for (let j = w0; j < w1; j++) mx = Math.max(mx, s[j]!);
  if (pre) for (let j = i * np; j < (i + 1) * np; j++) mx = Math.max(mx, pre[j]!);
  let acc = 0;
  for (let j = w0; j < w1; j++) acc += s[j] = fastExp(s[j]! - mx);
  if (pre) for (let j = i * np; j < (i + 1) * np; j++) acc += pre[j] = fastExp(pre[j]! - mx);
  s.fill(0, i * ld, w0);
  s.fill(0, w1, (i + 1) * ld);
  max[i] = mx;
  sum[i] = acc;
}

/** The scalar definitions (and the fallback). */
export class JsRows implements RowKernels {
  readonly kind = 'js' as const;
  private readonly buffers = new Map<string, Float32Array>();
  constructor(readonly reason?: string) {}

  take(name: string, n: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.length < n) this.buffers.set(name, (b = new Float32Array(Math.max(n, 2 * (b?.length ?? 0)))));
    return b.subarray(0, n);
  }

  softmaxRows(s: Float32Array, ld: number, m: number, vis0: number, rep: number, pre: Float32Array | null, np: number, max: Float32Array, sum: Float32Array): void {
    for (let i = 0; i < m; i++) softmaxRow(s, i, ld, 0, visible(i, vis0, rep, ld), pre, np, max, sum);
  }

  softmaxRowsWindowed(s: Float32Array, ld: number, m: number, lo: Float32Array, vis: Float32Array, pre: Float32Array | null, np: number, max: Float32Array, sum: Float32Array): void {
    for (let i = 0; i < m; i++) softmaxRow(s, i, ld, lo[i]!, vis[i]!, pre, np, max, sum);
  }

  softmaxGradRows(p: Float32Array, ds: Float32Array, ld: number, m: number, vis0: number, rep: number, shift: Float32Array, scale: Float32Array | null, D: Float32Array): void {
    for (let i = 0; i < m; i++) {
      const vis = visible(i, vis0, rep, ld);
      for (let j = i * ld; j < i * ld + vis; j++) {
        const pr = scale ? p[j]! * scale[i]! : fastExp(p[j]! - shift[i]!);
        p[j] = pr;
        ds[j] = pr * (ds[j]! - D[i]!);
      }
      p.fill(0, i * ld + vis, (i + 1) * ld);
      ds.fill(0, i * ld + vis, (i + 1) * ld);
    }
  }

  swigluForward(a: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const x = g[i]!;
      a[i] = x * sigmoid(x) * u[i]!;
    }
  }

  swigluBackward(dg: Float32Array, du: Float32Array, da: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const x = g[i]!;
      const s = sigmoid(x);
      du[i] = da[i]! * x * s;
      dg[i] = da[i]! * u[i]! * s * (1 + x * (1 - s));
    }
  }

  logSumExpRows(z: Float32Array, ld: number, m: number, n: number, max: Float32Array, sum: Float32Array, dot: Float32Array): void {
    for (let i = 0; i < m; i++) {
      const o = i * ld;
      let mx = -Infinity;
      for (let j = o; j < o + n; j++) if (z[j]! > mx) mx = z[j]!;
      let s = 0;
      let zp = 0;
      for (let j = o; j < o + n; j++) {
        const e = fastExp(z[j]! - mx);
        s += e;
        zp += e * z[j]!;
      }
      max[i] = mx;
      sum[i] = s;
      dot[i] = zp;
    }
  }

  scaleRows(x: Float32Array, ld: number, m: number, n: number, scale: Float32Array): void {
    for (let i = 0; i < m; i++) for (let j = i * ld; j < i * ld + n; j++) x[j]! *= scale[i]!;
  }

  adamw(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, o: AdamWStep): void {
    const { beta1, beta2, stepSize, bc2Sqrt, eps, decay } = o;
    for (let i = 0; i < n; i++) {
      w[i]! *= decay;
      m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
      w[i]! -= (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2Sqrt + eps);
    }
  }

  rmsnormForward(y: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, T: number, C: number, eps: number): void {
    for (let t = 0; t < T; t++) {
      const o = t * C;
      let ss = 0;
      for (let i = 0; i < C; i++) ss += x[o + i]! * x[o + i]!;
      const r = 1 / Math.sqrt(ss / C + eps);
      rstd[t] = r;
      for (let i = 0; i < C; i++) y[o + i] = x[o + i]! * r * w[i]!;
    }
  }

  rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, T: number, C: number): void {
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
}

interface Exports {
  softmaxRows(s: number, ld: number, m: number, vis0: number, rep: number, pre: number, np: number, max: number, sum: number): void;
  softmaxRowsWindowed(s: number, ld: number, m: number, lo: number, vis: number, pre: number, np: number, max: number, sum: number): void;
  softmaxGradRows(p: number, ds: number, ld: number, m: number, vis0: number, rep: number, shift: number, scale: number, D: number): void;
  swigluForward(a: number, g: number, u: number, n: number): void;
  swigluBackward(dg: number, du: number, da: number, g: number, u: number, n: number): void;
  rmsnormForward(y: number, rstd: number, x: number, w: number, T: number, C: number, eps: number): void;
  adamw(w: number, g: number, m: number, v: number, n: number, beta1: number, beta2: number, stepSize: number, bc2Sqrt: number, eps: number, decay: number): void;
  logSumExpRows(z: number, ld: number, m: number, n: number, max: number, sum: number, dot: number): void;
  scaleRows(x: number, ld: number, m: number, n: number, scale: number): void;
  rmsnormBackward(dx: number, dw: number, dy: number, x: number, w: number, rstd: number, T: number, C: number): void;
}

const PAGE = 65536;

/** Operands of an elementwise kernel: read by it, written by it, or both. */
const IN = (x: Float32Array) => ({ x, read: true, written: false });
const OUT = (x: Float32Array) => ({ x, read: false, written: true });
const INOUT = (x: Float32Array) => ({ x, read: true, written: true });

class WasmRows implements RowKernels {
  readonly kind = 'wasm' as const;
  readonly reason = undefined;
  /** Shared so that growing it never detaches the views already handed out (a plain memory's would be). */
  private readonly memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
  private readonly k: Exports;
  private readonly buffers = new Map<string, { at: number; floats: number }>();
  /** Released regions (a named buffer that grew), reused first-fit. */
  private readonly free: { at: number; floats: number }[] = [];
  private top = 64;
  private readonly own = new WeakSet<ArrayBufferLike>();
  private readonly stream: Float32Array[];
  /** Shapes the kernel does not take (rows not a multiple of 4 floats, or longer than a chunk). */
  private readonly scalar = new JsRows();

  constructor(module: WebAssembly.Module) {
    const abort = () => {
      throw new Error('row kernel aborted');
    };
    this.k = new WebAssembly.Instance(module, { env: { memory: this.memory, abort } }).exports as unknown as Exports;
    this.stream = ['s0', 's1', 's2', 's3', 's4', 's5'].map((n) => this.take(n, CHUNK));
  }

  private region(floats: number): number {
    const i = this.free.findIndex((r) => r.floats >= floats);
    if (i >= 0) return this.free.splice(i, 1)[0]!.at;
    const at = this.top;
    this.top = Math.ceil((at + floats * 4 + 64) / 64) * 64;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / PAGE));
    return at;
  }

  take(name: string, n: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.floats < n) {
      if (b) this.free.push(b);
      const floats = Math.max(n, 2 * (b?.floats ?? 0), 16);
      b = { at: this.region(floats), floats };
      this.buffers.set(name, b);
    }
    const buf = this.memory.buffer; // a new SharedArrayBuffer object after each grow, the same memory
    this.own.add(buf);
    return new Float32Array(buf, b.at, n);
  }

  private ptr(x: Float32Array, what: string): number {
    if (!this.own.has(x.buffer)) throw new Error(`row kernel: ${what} is not a view from take()`);
    return x.byteOffset;
  }

  softmaxRows(s: Float32Array, ld: number, m: number, vis0: number, rep: number, pre: Float32Array | null, np: number, max: Float32Array, sum: Float32Array): void {
    this.k.softmaxRows(this.ptr(s, 's'), ld, m, vis0, rep, pre ? this.ptr(pre, 'pre') : 0, pre ? np : 0, this.ptr(max, 'max'), this.ptr(sum, 'sum'));
  }

  softmaxRowsWindowed(s: Float32Array, ld: number, m: number, lo: Float32Array, vis: Float32Array, pre: Float32Array | null, np: number, max: Float32Array, sum: Float32Array): void {
    this.k.softmaxRowsWindowed(this.ptr(s, 's'), ld, m, this.ptr(lo, 'lo'), this.ptr(vis, 'vis'), pre ? this.ptr(pre, 'pre') : 0, pre ? np : 0, this.ptr(max, 'max'), this.ptr(sum, 'sum'));
  }

  softmaxGradRows(p: Float32Array, ds: Float32Array, ld: number, m: number, vis0: number, rep: number, shift: Float32Array, scale: Float32Array | null, D: Float32Array): void {
    this.k.softmaxGradRows(this.ptr(p, 'p'), this.ptr(ds, 'ds'), ld, m, vis0, rep, this.ptr(shift, 'shift'), scale ? this.ptr(scale, 'scale') : 0, this.ptr(D, 'D'));
  }

  logSumExpRows(z: Float32Array, ld: number, m: number, n: number, max: Float32Array, sum: Float32Array, dot: Float32Array): void {
    this.k.logSumExpRows(this.ptr(z, 'z'), ld, m, n, this.ptr(max, 'max'), this.ptr(sum, 'sum'), this.ptr(dot, 'dot'));
  }

  scaleRows(x: Float32Array, ld: number, m: number, n: number, scale: Float32Array): void {
    this.k.scaleRows(this.ptr(x, 'x'), ld, m, n, this.ptr(scale, 'scale'));
  }

  /**
   * An elementwise kernel over n floats of operands anywhere: chunk by chunk, the operands it reads are
   * copied into the stream buffers (operand i into buffer i), `call` runs on their offsets (the count
   * rounded up to 4: the lanes past it compute on leftovers and are not copied back), and the operands it
   * writes are copied back.
   */
  private elementwise(n: number, operands: { x: Float32Array; read: boolean; written: boolean }[], call: (at: number[], n4: number) => void): void {
    const at = operands.map((_, i) => this.stream[i]!.byteOffset);
    for (let o = 0; o < n; o += CHUNK) {
      const c = Math.min(CHUNK, n - o);
      operands.forEach((op, i) => op.read && this.stream[i]!.set(op.x.subarray(o, o + c)));
      call(at, Math.ceil(c / 4) * 4);
      operands.forEach((op, i) => op.written && op.x.set(this.stream[i]!.subarray(0, c), o));
    }
  }

  swigluForward(a: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
    this.elementwise(n, [OUT(a), IN(g), IN(u)], (p, n4) => this.k.swigluForward(p[0]!, p[1]!, p[2]!, n4));
  }

  swigluBackward(dg: Float32Array, du: Float32Array, da: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
    this.elementwise(n, [OUT(dg), OUT(du), IN(da), IN(g), IN(u)], (p, n4) => this.k.swigluBackward(p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, n4));
  }

  adamw(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, o: AdamWStep): void {
    this.elementwise(n, [INOUT(w), IN(g), INOUT(m), INOUT(v)], (p, n4) => this.k.adamw(p[0]!, p[1]!, p[2]!, p[3]!, n4, o.beta1, o.beta2, o.stepSize, o.bc2Sqrt, o.eps, o.decay));
  }

  rmsnormForward(y: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, T: number, C: number, eps: number): void {
    if (C % 4 !== 0 || C > CHUNK) return this.scalar.rmsnormForward(y, rstd, x, w, T, C, eps);
    const [sx, sy, sr, sw] = this.stream as [Float32Array, Float32Array, Float32Array, Float32Array];
    sw.set(w.subarray(0, C));
    const per = Math.floor(CHUNK / C);
    for (let t0 = 0; t0 < T; t0 += per) {
      const n = Math.min(per, T - t0);
      sx.set(x.subarray(t0 * C, (t0 + n) * C));
      this.k.rmsnormForward(sy.byteOffset, sr.byteOffset, sx.byteOffset, sw.byteOffset, n, C, eps);
      y.set(sy.subarray(0, n * C), t0 * C);
      rstd.set(sr.subarray(0, n), t0);
    }
  }

  rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, T: number, C: number): void {
    if (C % 4 !== 0 || C > CHUNK) return this.scalar.rmsnormBackward(dx, dw, dy, x, w, rstd, T, C);
    const [sdx, sdy, sx, sr, sw, sdw] = this.stream as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    sw.set(w.subarray(0, C));
    if (dw) sdw.set(dw.subarray(0, C));
    const per = Math.floor(CHUNK / C);
    for (let t0 = 0; t0 < T; t0 += per) {
      const n = Math.min(per, T - t0);
      sdx.set(dx.subarray(t0 * C, (t0 + n) * C));
      sdy.set(dy.subarray(t0 * C, (t0 + n) * C));
      sx.set(x.subarray(t0 * C, (t0 + n) * C));
      sr.set(rstd.subarray(t0, t0 + n));
      this.k.rmsnormBackward(sdx.byteOffset, dw ? sdw.byteOffset : 0, sdy.byteOffset, sx.byteOffset, sw.byteOffset, sr.byteOffset, n, C);
      dx.set(sdx.subarray(0, n * C), t0 * C);
    }
    if (dw) dw.set(sdw.subarray(0, C));
  }
}

let loaded: RowKernels | null = null;

/** The row kernels: WebAssembly SIMD when built (and not SQLRL_ROWS=js), else the scalar loops. */
export function rowKernels(): RowKernels {
  if (loaded) return loaded;
  const file = new URL('rows.wasm', BUILD_DIR);
  if (process.env.SQLRL_ROWS === 'js') loaded = new JsRows('SQLRL_ROWS=js');
  else if (!existsSync(file)) loaded = new JsRows('row kernel not built (run npm run build:wasm)');
  else {
    const bytes = new Uint8Array(readFileSync(file));
    loaded = WebAssembly.validate(bytes) ? new WasmRows(new WebAssembly.Module(bytes)) : new JsRows('this runtime has no WebAssembly SIMD');
  }
  return loaded;
}
