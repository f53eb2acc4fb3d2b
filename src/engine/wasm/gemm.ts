// The portable GEMM: the WebAssembly SIMD kernel (./assembly/gemm.ts, built by scripts/build-wasm.mjs
// into dist/engine/wasm/) run on every core through worker threads sharing one WebAssembly.Memory.
//
// Operands arrive as Float32Arrays outside wasm memory: each call copies what the kernel reads into a
// scratch area of the shared memory (one memcpy-speed `set` per operand when its rows are contiguous
// or nearly so, row by row otherwise) and copies C back; arrays allocated by `array` (blas.ts's
// `gemmArray`) already live in that memory and are used in place. Large products are cut into pieces
// of C's columns (or rows, when C is tall) that this thread and the helpers claim (./slot.ts); small
// ones stay here, where a hand-off would cost more than the product.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { pieceArgs, SLOT, type WorkerInit } from './slot.js';
import { WORKER_SOURCE } from './worker.js';

// dist/engine/wasm/ seen from src/engine/wasm/*.ts (run through tsx) and from dist/engine/wasm/*.js alike
const BUILD_DIR = new URL('../../../dist/engine/wasm/', import.meta.url);
const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit; only what is used is committed
/** Bytes of slack after every operand: the outer-product tiles read up to 15 floats past a row's end. */
const SLACK = 64;
/**
 * Below this many multiply-adds (~100 µs on one core) a product stays on the calling thread: waking a
 * helper costs tens of microseconds on an idle machine and more on a busy one, and the demo model's
 * products (100×128×128 ≈ 1.6M) must not get slower than single-threaded.
 */
export const PARALLEL_MIN_MACS = 1 << 22;
/** Each piece of a split product is at least this many multiply-adds (~15 µs). */
const PIECE_MIN_MACS = 1 << 19;
/** The caller spins this long for the helpers' last pieces before sleeping. */
const CALLER_SPIN_MS = 0.2;

interface Kernel {
  gemm(transA: number, transB: number, m: number, n: number, k: number, alpha: number, a: number, lda: number, b: number, ldb: number, beta: number, c: number, ldc: number): void;
  transpose(rows: number, cols: number, src: number, lds: number, dst: number, ldd: number): void;
}

export interface PortableGemm {
  /** Whether products use a fused multiply-add (relaxed SIMD, checked by a probe), else mul + add. */
  readonly fma: boolean;
  /** Threads a large product is split over, this one included (SQLRL_GEMM_THREADS, default: cores). */
  threads: number;
  /** Row-major C = alpha·op(A)·op(B) + beta·C with explicit leading dimensions (floats). */
  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number): void;
  /** A zeroed Float32Array inside the kernel's memory: used in place, never copied (never freed). */
  array(length: number): Float32Array;
  /** Starts the helper threads now (otherwise the first large product does) and resolves when they
   *  are all ready, with how many there are. */
  ready(): Promise<number>;
  /** Products computed so far, how many were cut into pieces for the threads, and how many pieces the
   *  helper threads took. */
  readonly counts: { products: number; parallel: number; helped: number };
}

/** Whether this V8 validates relaxed SIMD; on Node 20 it does once the (experimental) flag is set. */
function relaxedSimdUsable(bytes: Uint8Array<ArrayBuffer>): boolean {
  if (WebAssembly.validate(bytes)) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

/** Loads the kernel, or returns why it cannot (not built, or no WebAssembly SIMD in this runtime). */
export function loadPortableGemm(): PortableGemm | string {
  const relaxedFile = new URL('gemm-relaxed.wasm', BUILD_DIR);
  const simdFile = new URL('gemm-simd.wasm', BUILD_DIR);
  if (!existsSync(simdFile)) return `WebAssembly kernel not built (${fileURLToPath(simdFile)} missing: run npm run build:wasm)`;
  let bytes: Uint8Array<ArrayBuffer> = new Uint8Array(readFileSync(simdFile));
  if (existsSync(relaxedFile)) {
    const relaxed = new Uint8Array(readFileSync(relaxedFile));
    if (relaxedSimdUsable(relaxed)) bytes = relaxed;
  }
  if (!WebAssembly.validate(bytes)) return 'this runtime has no WebAssembly SIMD';
  const requested = Number(process.env.SQLRL_GEMM_THREADS);
  const threads = Number.isInteger(requested) && requested >= 1 ? requested : Math.min(availableParallelism(), 16);
  return new WasmGemm(new WebAssembly.Module(bytes), threads);
}

class WasmGemm implements PortableGemm {
  readonly fma: boolean;
  threads: number;
  private readonly memory = new WebAssembly.Memory({ initial: 64, maximum: MAX_PAGES, shared: true });
  private readonly kernel: Kernel;
  private readonly own = new WeakSet<ArrayBufferLike>();
  private heap: Float32Array;
  private bytes: number;
  /** First byte past the arrays handed out by `array`: each call's scratch starts here. */
  private top = 64;
  private scratch = 0;
  private control: Int32Array | null = null;
  private controlFloats: Float32Array | null = null;
  private helpers = 0;
  private seq = 0;
  private readonly tally = { products: 0, parallel: 0 };
  get counts() {
    return { ...this.tally, helped: this.control ? Atomics.load(this.control, SLOT.helped) : 0 };
  }

  constructor(
    private readonly module: WebAssembly.Module,
    threads: number,
  ) {
    this.threads = threads;
    const abort = () => {
      throw new Error('gemm kernel aborted');
    };
    this.kernel = new WebAssembly.Instance(module, { env: { memory: this.memory, abort } }).exports as unknown as Kernel;
    this.heap = this.view();
    this.bytes = this.heap.byteLength;
    this.fma = this.probeFma();
  }

  private view(): Float32Array {
    const buf = this.memory.buffer;
    this.own.add(buf);
    return new Float32Array(buf);
  }

  /** Reserves `bytes` of scratch (16-byte aligned, SLACK after it) and returns its byte offset. */
  private alloc(bytes: number): number {
    const at = Math.ceil(this.scratch / 16) * 16; // not bit operations: offsets reach 4 GiB
    this.scratch = at + bytes + SLACK;
    if (this.scratch > this.bytes) {
      // grow by a quarter at least, so that a run of growing products does not grow every call
      const have = this.bytes / PAGE;
      const need = Math.ceil((this.scratch - this.bytes) / PAGE);
      if (have + need > MAX_PAGES) throw new Error(`portable GEMM: operands exceed the 4 GiB of WebAssembly memory`);
      this.memory.grow(Math.min(Math.max(need, Math.ceil(have / 4)), MAX_PAGES - have));
      this.heap = this.view();
      this.bytes = this.heap.byteLength;
    }
    return at;
  }

  array(length: number): Float32Array {
    this.scratch = this.top;
    const at = this.alloc(length * 4);
    this.top = this.scratch;
    const out = new Float32Array(this.memory.buffer, at, length);
    this.own.add(out.buffer);
    return out.fill(0); // the scratch of earlier products may have been here
  }

  private owns(x: Float32Array): boolean {
    return this.own.has(x.buffer);
  }

  /** Leading dimension of the operand `place` put last (its byte offset is the return value). */
  private placedLd = 0;

  /**
   * Puts a rows×cols operand (leading dimension ld) where the kernel reads it and returns its byte
   * offset (its leading dimension in `placedLd`). A block of a wider matrix is copied with its gaps
   * when those are small (one `set`), else row by row.
   */
  private place(x: Float32Array, rows: number, cols: number, ld: number): number {
    this.placedLd = ld;
    if (this.owns(x)) return x.byteOffset;
    const span = (rows - 1) * ld + cols;
    if (ld === cols || span <= 2 * rows * cols) {
      const at = this.alloc(span * 4);
      this.heap.set(span === x.length ? x : x.subarray(0, span), at >>> 2);
      return at;
    }
    const at = this.alloc(rows * cols * 4);
    copyRows(x, 0, ld, this.heap, at >>> 2, cols, rows, cols);
    this.placedLd = cols;
    return at;
  }

  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number): void {
    this.scratch = this.top;
    const readAB = k > 0 && alpha !== 0;
    let [pa, la, pb, lb] = [0, 0, 0, 0];
    if (readAB) {
      pa = this.place(a, transA ? k : m, transA ? m : k, lda);
      la = this.placedLd;
      pb = this.place(b, transB ? n : k, transB ? k : n, ldb);
      lb = this.placedLd;
    }
    let tB = transB;
    if (readAB && transA && transB) {
      // the kernel has no TT path: Bᵀ ([k,n]) into scratch, then it is a TN product
      const t = this.alloc(k * n * 4);
      this.kernel.transpose(n, k, pb, lb, t, n);
      [pb, lb, tB] = [t, n, false];
    }
    // C: in place if ours; else copied in when beta reads it (or when gaps must survive a span copy)
    if (this.owns(c)) {
      this.run(transA ? 1 : 0, tB ? 1 : 0, m, n, k, alpha, pa, la, pb, lb, beta, c.byteOffset, ldc);
      return;
    }
    const span = (m - 1) * ldc + n;
    if (ldc === n || span <= 2 * m * n) {
      const pc = this.alloc(span * 4);
      const at = pc >>> 2;
      if (beta !== 0 || ldc !== n) this.heap.set(c.subarray(0, span), at);
      this.run(transA ? 1 : 0, tB ? 1 : 0, m, n, k, alpha, pa, la, pb, lb, beta, pc, ldc);
      c.set(this.heap.subarray(at, at + span));
      return;
    }
    const pc = this.alloc(m * n * 4);
    const at = pc >>> 2;
    if (beta !== 0) copyRows(c, 0, ldc, this.heap, at, n, m, n);
    this.run(transA ? 1 : 0, tB ? 1 : 0, m, n, k, alpha, pa, la, pb, lb, beta, pc, n);
    copyRows(this.heap, at, n, c, 0, ldc, m, n);
  }

  /** Runs the product on this thread, or in pieces taken by it and the helpers that are up. */
  private run(tA: number, tB: number, m: number, n: number, k: number, alpha: number, a: number, lda: number, b: number, ldb: number, beta: number, c: number, ldc: number): void {
    const macs = m * n * k;
    this.tally.products++;
    if (this.threads > 1 && macs >= PARALLEL_MIN_MACS && !this.control) this.startHelpers();
    const s = this.control;
    if (!s || this.threads === 1 || macs < PARALLEL_MIN_MACS || Atomics.load(s, SLOT.ready) === 0) {
      this.kernel.gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    // pieces along the longer side of C (multiples of the tiles: 8 columns, 4 rows), several per
    // thread so that whoever is running takes the rest, each still worth a hand-off
    const byRows = m > n;
    const quantum = byRows ? 4 : 8;
    const total = byRows ? m : n;
    const want = Math.max(2, Math.min(4 * this.threads, Math.floor(macs / PIECE_MIN_MACS)));
    const chunk = Math.ceil(total / want / quantum) * quantum;
    const chunks = Math.ceil(total / chunk);
    if (chunks < 2) {
      this.kernel.gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    this.tally.parallel++;
    const f = this.controlFloats!;
    [s[SLOT.transA], s[SLOT.transB], s[SLOT.m], s[SLOT.n], s[SLOT.k], s[SLOT.a], s[SLOT.lda], s[SLOT.b], s[SLOT.ldb], s[SLOT.c], s[SLOT.ldc]] = [tA, tB, m, n, k, a, lda, b, ldb, c, ldc];
    [f[SLOT.alpha], f[SLOT.beta]] = [alpha, beta];
    [s[SLOT.byRows], s[SLOT.chunk], s[SLOT.chunks]] = [byRows ? 1 : 0, chunk, chunks];
    Atomics.store(s, SLOT.done, 0);
    Atomics.store(s, SLOT.failed, 0);
    this.seq = (this.seq + 1) | 0;
    const tag = this.seq & 0xffff;
    Atomics.store(s, SLOT.claim, tag << 16);
    Atomics.store(s, SLOT.seq, this.seq);
    Atomics.notify(s, SLOT.seq);
    for (;;) {
      const v = Atomics.load(s, SLOT.claim);
      if ((v & 0xffff) >= chunks) break;
      if (Atomics.compareExchange(s, SLOT.claim, v, v + 1) !== v) continue;
      const p = pieceArgs(s, f, v & 0xffff);
      this.kernel.gemm(p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, p[5]!, p[6]!, p[7]!, p[8]!, p[9]!, p[10]!, p[11]!, p[12]!);
      Atomics.add(s, SLOT.done, 1);
    }
    // the pieces helpers took: spin briefly (they are usually nearly done), then sleep on `done`
    const t0 = performance.now();
    while (Atomics.load(s, SLOT.done) < chunks && performance.now() - t0 < CALLER_SPIN_MS);
    for (let d = Atomics.load(s, SLOT.done); d < chunks; d = Atomics.load(s, SLOT.done)) Atomics.wait(s, SLOT.done, d, 1000);
    if (Atomics.load(s, SLOT.failed)) throw new Error('portable GEMM: a helper thread failed (see its error above)');
  }

  async ready(): Promise<number> {
    if (this.threads > 1 && !this.control) this.startHelpers();
    const deadline = performance.now() + 30_000;
    while (this.control && Atomics.load(this.control, SLOT.ready) < this.helpers) {
      if (performance.now() > deadline) throw new Error('portable GEMM: helper threads did not start within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.helpers;
  }

  /** Starts the helper threads; until one reports ready, products run on this thread alone. */
  private startHelpers(): void {
    const buffer = new SharedArrayBuffer(SLOT.ints * 4);
    this.control = new Int32Array(buffer);
    this.controlFloats = new Float32Array(buffer);
    this.helpers = this.threads - 1;
    for (let i = 0; i < this.helpers; i++) {
      const init: WorkerInit = { module: this.module, memory: this.memory, control: buffer };
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: init });
      worker.unref();
      worker.on('error', (err) => process.stderr.write(`sqlrl: portable GEMM helper thread: ${err.message}\n`));
    }
  }

  /** 1·(1+2⁻¹²)² − (1+2⁻¹¹) is 2⁻²⁴ when fused, 0 when the product is rounded first. */
  private probeFma(): boolean {
    this.scratch = this.top;
    const x = 1 + 2 ** -12;
    const [a, b, c] = [this.alloc(8), this.alloc(8), this.alloc(4)];
    this.heap.set([1, x], a >>> 2);
    this.heap.set([-(1 + 2 ** -11), x], b >>> 2);
    this.kernel.gemm(0, 0, 1, 1, 2, 1, a, 2, b, 1, 0, c, 1);
    return this.heap[c >>> 2] !== 0;
  }
}

/** rows rows of `cols` floats from src (row stride ls, from so) to dst (row stride ld, from do). */
function copyRows(src: Float32Array, so: number, ls: number, dst: Float32Array, dO: number, ld: number, rows: number, cols: number): void {
  if (cols >= 32) {
    for (let r = 0; r < rows; r++) dst.set(src.subarray(so + r * ls, so + r * ls + cols), dO + r * ld);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const s = so + r * ls;
    const d = dO + r * ld;
    for (let j = 0; j < cols; j++) dst[d + j] = src[s + j]!;
  }
}
