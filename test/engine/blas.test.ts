// The GEMM entry point against a plain triple loop written here: every transpose combination, blocks of
// wider matrices through leading dimensions, alpha/beta, on the system BLAS and on the portable kernel.
import assert from 'node:assert/strict';
import test from 'node:test';
import { sgemm, sgemmJs } from '../../src/engine/blas.js';
import { rng } from '../../src/random.js';

/** C = alpha·op(A)·op(B) + beta·C with explicit strides: the definition, nothing else. */
function naive(tA: boolean, tB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number): void {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (tA ? a[p * lda + i]! : a[i * lda + p]!) * (tB ? b[j * ldb + p]! : b[p * ldb + j]!);
      c[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * ldc + j]!);
    }
}

const random = rng(7);
const fill = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);

for (const [name, fn] of [
  ['sgemm (system BLAS when present)', sgemm],
  ['sgemmJs (portable)', sgemmJs],
] as const) {
  test(`${name}: all transposes, blocks of wider matrices (leading dimensions), alpha and beta`, () => {
    const [m, n, k] = [5, 7, 3];
    for (const tA of [false, true])
      for (const tB of [false, true])
        for (const [alpha, beta] of [
          [1, 0],
          [0.5, 1],
          [-2, 0.25],
        ] as const) {
          // blocks: A's rows are 4 wider than op(A) needs, B's 2 wider, C's 3 wider, each at an offset of 1
          const lda = (tA ? m : k) + 4;
          const ldb = (tB ? k : n) + 2;
          const ldc = n + 3;
          const a = fill(1 + (tA ? k : m) * lda);
          const b = fill(1 + (tB ? n : k) * ldb);
          const c0 = fill(1 + m * ldc);
          const want = c0.slice();
          naive(tA, tB, m, n, k, alpha, a.subarray(1), lda, b.subarray(1), ldb, beta, want.subarray(1), ldc);
          const got = c0.slice();
          if (fn === sgemm) sgemm(tA, tB, m, n, k, alpha, a.subarray(1), b.subarray(1), beta, got.subarray(1), { lda, ldb, ldc });
          else sgemmJs(tA, tB, m, n, k, alpha, a.subarray(1), b.subarray(1), beta, got.subarray(1), lda, ldb, ldc);
          for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `tA=${tA} tB=${tB} alpha=${alpha} beta=${beta} at ${i}: ${got[i]} vs ${want[i]}`);
          // the padding between rows is untouched
          assert.equal(got[0], c0[0]);
          for (let i = 0; i < m; i++) for (let j = n; j < ldc; j++) if (1 + i * ldc + j < got.length) assert.equal(got[1 + i * ldc + j], c0[1 + i * ldc + j]);
        }
  });
}
