// The job slot a caller and one GEMM helper thread share (an Int32Array over a SharedArrayBuffer; the
// two floats alpha and beta are read through a Float32Array over the same words). The caller writes the
// parameters, then bumps `seq` and notifies; the helper computes, stores `seq` into `done`, notifies.
export const SLOT = {
  seq: 0,
  done: 1,
  ready: 2,
  transA: 3,
  transB: 4,
  m: 5,
  n: 6,
  k: 7,
  a: 8,
  lda: 9,
  b: 10,
  ldb: 11,
  c: 12,
  ldc: 13,
  alpha: 14,
  beta: 15,
  /** words per slot: 64 bytes, one cache line, so two slots never share a line */
  ints: 16,
} as const;

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  index: number;
}
