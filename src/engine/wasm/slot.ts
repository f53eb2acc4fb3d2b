// The job block the caller and the GEMM helper threads share (an Int32Array over a SharedArrayBuffer;
// alpha and beta are read through a Float32Array over the same words).
//
// A product is cut into `chunks` pieces of C (`chunk` columns, or rows when `byRows`, each); the caller
// and the helpers take pieces by bumping `claim` with compare-and-swap until none is left, so a helper
// that is slow to wake (another process holds its core) costs at most one piece, never a wait.
// `claim` holds (job number mod 2¹⁶) << 16 | next piece: a helper still on an older job sees a different
// number and takes nothing, so it never computes with a newer job's parameters under an older claim.
// Protocol: the caller writes the parameters, resets `done`, stores `claim`, then bumps `seq` and
// notifies; helpers wake on `seq`, claim pieces, add 1 to `done` per piece (notifying on the last).
export const SLOT = {
  seq: 0,
  claim: 1,
  done: 2,
  ready: 3,
  transA: 4,
  transB: 5,
  m: 6,
  n: 7,
  k: 8,
  a: 9,
  lda: 10,
  b: 11,
  ldb: 12,
  c: 13,
  ldc: 14,
  alpha: 15,
  beta: 16,
  byRows: 17,
  chunk: 18,
  chunks: 19,
  /** a helper whose kernel call threw: the caller throws instead of waiting for its piece */
  failed: 20,
  /** pieces the helpers computed, all jobs together (for tests and benchmarks) */
  helped: 21,
  ints: 32,
} as const;

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
}

/** The kernel arguments of piece `i` of the job in `s` (an Int32Array) / `f` (its Float32Array view). */
export function pieceArgs(s: Int32Array, f: Float32Array, i: number): number[] {
  const start = i * s[SLOT.chunk]!;
  const byRows = s[SLOT.byRows] === 1;
  const total = byRows ? s[SLOT.m]! : s[SLOT.n]!;
  const len = Math.min(total, start + s[SLOT.chunk]!) - start;
  const [tA, tB, m, n, k, a, lda, b, ldb, c, ldc] = [s[SLOT.transA]!, s[SLOT.transB]!, s[SLOT.m]!, s[SLOT.n]!, s[SLOT.k]!, s[SLOT.a]!, s[SLOT.lda]!, s[SLOT.b]!, s[SLOT.ldb]!, s[SLOT.c]!, s[SLOT.ldc]!];
  const [alpha, beta] = [f[SLOT.alpha]!, f[SLOT.beta]!];
  if (byRows) return [tA, tB, len, n, k, alpha, a + 4 * (tA ? start : start * lda), lda, b, ldb, beta, c + 4 * start * ldc, ldc];
  return [tA, tB, m, len, k, alpha, a, lda, b + 4 * (tB ? start * ldb : start), ldb, beta, c + 4 * start, ldc];
}
