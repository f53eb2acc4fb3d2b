// GEMM throughput for benchmarks: GFLOP/s of the active sgemm (or of a given backend) at given shapes.
// bench:engine's line for the portable path:
//   const p = portableBackend(); await p?.prepare?.(); gemmGflops({ m: 256, n: 1536, k: 576, transB: true }, p.fn)
// `gemmBackends()` lists what this process can run: the system BLAS (when one loaded: not under
// SQLRL_BLAS=none/js), the portable WebAssembly kernel on all threads and on one, the scalar loop.
import { blasInfo, portableGemm, sgemm, sgemmJs } from '../../src/engine/blas.js';

/** C[m,n] = op(A)[m,k]·op(B)[k,n]; x·Wᵀ of a linear layer is transB. */
export interface GemmShape {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  /** what the product is in the model (printed beside it) */
  label?: string;
}

export type GemmFn = (transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number) => void;

export interface GemmBackend {
  name: string;
  fn: GemmFn;
  /** called before timing (e.g. the portable kernel's helper threads start, or its thread count is set) */
  prepare?: () => Promise<void>;
}

/** The active sgemm (whatever SQLRL_BLAS and the machine select), leading dimensions explicit. */
export const activeSgemm: GemmFn = (tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => sgemm(tA, tB, m, n, k, alpha, a, b, beta, c, { lda, ldb, ldc });

/** The portable WebAssembly GEMM on all its threads (helpers started by `prepare`), or null when it
 *  cannot load (with why in `portableGemm()`): for bench:engine's line on the portable path. */
export function portableBackend(): GemmBackend | null {
  return gemmBackends().find((b) => b.name.startsWith('wasm')) ?? null; // all threads: listed first
}

/** Every backend this process can run, the system BLAS first. */
export function gemmBackends(): GemmBackend[] {
  const out: GemmBackend[] = [];
  const info = blasInfo();
  if (info.backend !== 'wasm' && info.backend !== 'js') out.push({ name: `${info.backend} (${info.threads ?? '?'} threads)`, fn: activeSgemm });
  const p = portableGemm();
  if (typeof p !== 'string') {
    const all = p.threads;
    out.push({
      name: `wasm (${all} threads${p.fma ? ', FMA' : ''})`,
      fn: p.sgemm.bind(p),
      prepare: async () => {
        p.threads = all;
        await p.ready();
      },
    });
    if (all > 1)
      out.push({
        name: `wasm (1 thread${p.fma ? ', FMA' : ''})`,
        fn: p.sgemm.bind(p),
        prepare: async () => {
          p.threads = 1;
        },
      });
    out.push({ name: 'js (scalar)', fn: (tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => sgemmJs(tA, tB, m, n, k, alpha, a, b, beta, c, lda, ldb, ldc) });
  } else out.push({ name: 'js (scalar)', fn: (tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => sgemmJs(tA, tB, m, n, k, alpha, a, b, beta, c, lda, ldb, ldc) });
  return out;
}

/** Operands for `shape` (fresh Float32Arrays outside any kernel memory, as the engine passes them). */
function operands(shape: GemmShape) {
  const { m, n, k, transA = false, transB = false } = shape;
  const a = Float32Array.from({ length: m * k }, (_, i) => ((i % 13) - 6) * 0.01);
  const b = Float32Array.from({ length: k * n }, (_, i) => ((i % 7) - 3) * 0.01);
  const c = new Float32Array(m * n);
  return (fn: GemmFn) => () => fn(transA, transB, m, n, k, 1, a, transA ? m : k, b, transB ? k : n, 0, c, n);
}

/** Products per batch of about `ms` milliseconds, after a warm-up (JIT tiers, thread start, caches). */
function warmUp(once: () => void, ms: number): number {
  const t0 = performance.now();
  let reps = 0;
  while (reps < 2 || performance.now() - t0 < Math.min(100, ms)) {
    once();
    reps++;
  }
  return Math.max(1, Math.round(ms / ((performance.now() - t0) / reps)));
}

function timeBatch(once: () => void, reps: number, flops: number): number {
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) once();
  return (flops * reps) / ((performance.now() - t0) / 1000) / 1e9;
}

/**
 * GFLOP/s (2·m·n·k per product) of `fn` at `shape`: the best of `batches` timed batches, each about
 * `seconds / batches` long, after a warm-up.
 */
export function gemmGflops(shape: GemmShape, fn: GemmFn = activeSgemm, { seconds = 0.6, batches = 3 } = {}): number {
  const once = operands(shape)(fn);
  const reps = warmUp(once, (seconds * 1000) / batches);
  let best = 0;
  for (let batch = 0; batch < batches; batch++) best = Math.max(best, timeBatch(once, reps, 2 * shape.m * shape.n * shape.k));
  return best;
}

/**
 * GFLOP/s of several backends at one shape with their batches interleaved (A, B, C, A, B, C, ...), so
 * that on a shared machine a burst of other load falls on all of them alike; best batch of each.
 */
export async function compareGflops(shape: GemmShape, backends: GemmBackend[], { seconds = 0.4, batches = 3 } = {}): Promise<number[]> {
  const make = operands(shape);
  const flops = 2 * shape.m * shape.n * shape.k;
  const runs: { once: () => void; reps: number }[] = [];
  for (const b of backends) {
    await b.prepare?.();
    const once = make(b.fn);
    runs.push({ once, reps: warmUp(once, (seconds * 1000) / batches) });
  }
  const best = backends.map(() => 0);
  for (let batch = 0; batch < batches; batch++)
    for (const [i, b] of backends.entries()) {
      await b.prepare?.();
      best[i] = Math.max(best[i]!, timeBatch(runs[i]!.once, runs[i]!.reps, flops));
    }
  return best;
}

/** SmolLM2-135M's products (hidden 576, 9 heads of 64, 3 KV heads, MLP 1536, vocabulary 49152). */
export function smollm2Shapes(tokens = 256): GemmShape[] {
  const T = tokens;
  return [
    { m: T, n: 576, k: 576, transB: true, label: 'q/o projection x·Wᵀ' },
    { m: T, n: 192, k: 576, transB: true, label: 'k/v projection x·Wᵀ' },
    { m: T, n: 1536, k: 576, transB: true, label: 'gate/up x·Wᵀ' },
    { m: T, n: 576, k: 1536, transB: true, label: 'down x·Wᵀ' },
    { m: T, n: 1536, k: 576, label: 'backward dx = dy·W' },
    { m: 1536, n: 576, k: T, transA: true, label: 'backward dW = dyᵀ·x' },
    { m: T, n: T, k: 64, transB: true, label: 'attention scores q·kᵀ (one head)' },
    { m: T, n: 64, k: T, label: 'attention p·v (one head)' },
    { m: 16, n: 49152, k: 576, transB: true, label: 'LM head, 16 positions' },
    { m: 1, n: 1536, k: 576, transB: true, label: 'decode, batch 1' },
    { m: 8, n: 1536, k: 576, transB: true, label: 'decode, batch 8' },
    { m: 16, n: 1536, k: 576, transB: true, label: 'decode, batch 16' },
  ];
}

/** The demo's model (hidden 128, 4 heads of 32, MLP 352, vocabulary 1024) on one ~100-token sequence. */
export function demoShapes(tokens = 100): GemmShape[] {
  const T = tokens;
  return [
    { m: T, n: 128, k: 128, transB: true, label: 'demo q/o x·Wᵀ' },
    { m: T, n: 352, k: 128, transB: true, label: 'demo gate/up x·Wᵀ' },
    { m: T, n: 128, k: 352, transB: true, label: 'demo down x·Wᵀ' },
    { m: T, n: 1024, k: 128, transB: true, label: 'demo LM head' },
    { m: T, n: T, k: 32, transB: true, label: 'demo attention q·kᵀ' },
    { m: 8, n: 352, k: 128, transB: true, label: 'demo decode, batch 8' },
  ];
}

/**
 * The machine's raw sgemm rate: the best GFLOP/s of the active sgemm over large products of the shapes a
 * layer multiplies (SmolLM2's and Qwen2.5-0.5B's), what the engine's passes are measured against.
 */
export function rawSgemmGflops(): number {
  const shapes: GemmShape[] = [
    { m: 2048, n: 1536, k: 576, transB: true },
    { m: 2048, n: 576, k: 1536 },
    { m: 2048, n: 4864, k: 896, transB: true },
  ];
  return Math.max(...shapes.map((s) => gemmGflops(s, activeSgemm, { seconds: 1.5, batches: 3 })));
}
