// Matrix products: the system BLAS (OpenBLAS's cblas_sgemm / cblas_sgemv through the koffi FFI), or a
// blocked pure-TypeScript fallback when no library is found (or SQLRL_BLAS=js). Row-major throughout.
//
// Debian 12's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to its old
// Prescott kernels (4-9x slower). When the CPU has AVX-512 and the user did not choose a core type,
// we set OPENBLAS_CORETYPE=SkylakeX in this process before the library loads (the user's own
// OPENBLAS_CORETYPE always wins); `blasInfo()` reports the kernel actually active.
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

type SgemmFn = (order: number, ta: number, tb: number, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number) => void;
type SgemvFn = (order: number, t: number, m: number, n: number, alpha: number, a: Float32Array, lda: number, x: Float32Array, incx: number, beta: number, y: Float32Array, incy: number) => void;

export interface BlasInfo {
  backend: 'openblas' | 'js';
  library?: string;
  coreName?: string;
  coreTypeSetBySqlrl?: boolean;
  threads?: number;
}

let sgemmNative: SgemmFn | null = null;
let sgemvNative: SgemvFn | null = null;
let info: BlasInfo = { backend: 'js' };
let loaded = false;

function cpuHasAvx512(): boolean {
  try {
    return /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

function load(): void {
  if (loaded) return;
  loaded = true;
  if (process.env.SQLRL_BLAS === 'js') return;
  let coreTypeSet = false;
  if (!process.env.OPENBLAS_CORETYPE && process.platform === 'linux' && cpuHasAvx512()) {
    process.env.OPENBLAS_CORETYPE = 'SkylakeX';
    coreTypeSet = true;
  }
  const candidates = process.platform === 'darwin' ? ['/System/Library/Frameworks/Accelerate.framework/Accelerate', 'libopenblas.dylib'] : ['libopenblas.so.0', 'libopenblas.so', 'libcblas.so.3', 'libblas.so.3'];
  for (const name of candidates) {
    try {
      const lib = koffi.load(name);
      sgemmNative = lib.func('void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, _Inout_ float *, int)') as unknown as SgemmFn;
      sgemvNative = lib.func('void cblas_sgemv(int, int, int, int, float, const float *, int, const float *, int, float, _Inout_ float *, int)') as unknown as SgemvFn;
      let coreName: string | undefined;
      let threads: number | undefined;
      try {
        coreName = (lib.func('const char *openblas_get_corename()') as unknown as () => string)();
        threads = (lib.func('int openblas_get_num_threads()') as unknown as () => number)();
      } catch {
        // not OpenBLAS (Accelerate, reference BLAS): no core name
      }
      info = { backend: 'openblas', library: name, ...(coreName ? { coreName } : {}), coreTypeSetBySqlrl: coreTypeSet, ...(threads ? { threads } : {}) };
      return;
    } catch {
      // try the next name
    }
  }
  if (coreTypeSet) delete process.env.OPENBLAS_CORETYPE;
}

export function blasInfo(): BlasInfo {
  load();
  return info;
}

export function blasDescription(): string {
  const i = blasInfo();
  return i.backend === 'js' ? 'pure TypeScript GEMM (no BLAS library found; apt-get install libopenblas0-pthread)' : `${i.library} (kernel ${i.coreName ?? '?'}${i.coreTypeSetBySqlrl ? ', OPENBLAS_CORETYPE=SkylakeX set by sqlrl' : ''}, ${i.threads ?? '?'} threads)`;
}

/** Leading dimensions (row strides) when a matrix is a block of a larger row-major array. */
export interface LeadingDims {
  lda?: number;
  ldb?: number;
  ldc?: number;
}

/**
 * C[m,n] = alpha · op(A) · op(B) + beta · C, row-major. op(A) is [m,k]: A is [m,k] (lda = k) or, when
 * transA, [k,m] (lda = m); op(B) is [k,n]: B is [k,n] (ldb = n) or, when transB, [n,k] (ldb = k).
 * `ld` overrides the leading dimensions (a block of a wider matrix; pass subarrays for offsets).
 */
export function sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, b: Float32Array, beta: number, c: Float32Array, ld?: LeadingDims): void {
  load();
  if (m === 0 || n === 0) return;
  const lda = ld?.lda ?? (transA ? m : k);
  const ldb = ld?.ldb ?? (transB ? k : n);
  const ldc = ld?.ldc ?? n;
  if (sgemmNative) {
    if (m === 1 && !transA && ldc === n) {
      // one row: y = op(B)ᵀ x is a matrix-vector product, 2-3x faster than sgemm in OpenBLAS 0.3.21
      sgemvNative!(ROW_MAJOR, transB ? NO_TRANS : TRANS, transB ? n : k, transB ? k : n, alpha, b, ldb, a, 1, beta, c, 1);
      return;
    }
    sgemmNative(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  sgemmJs(transA, transB, m, n, k, alpha, a, b, beta, c, lda, ldb, ldc);
}

/** The portable fallback: blocked over k so the B rows stay in cache; contiguous inner loops. */
export function sgemmJs(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, b: Float32Array, beta: number, c: Float32Array, lda = transA ? m : k, ldb = transB ? k : n, ldc = n): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c[i * ldc + j] = beta === 0 ? 0 : c[i * ldc + j]! * beta;
  if (transB) {
    // C[i,j] += sum_p A[i,p] B[j,p]: dot products of contiguous rows
    const arow = new Float32Array(k);
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) arow[p] = transA ? a[p * lda + i]! : a[i * lda + p]!;
      for (let j = 0; j < n; j++) {
        let s = 0;
        const bo = j * ldb;
        for (let p = 0; p < k; p++) s += arow[p]! * b[bo + p]!;
        c[i * ldc + j]! += alpha * s;
      }
    }
    return;
  }
  for (let i = 0; i < m; i++) {
    const co = i * ldc;
    for (let p = 0; p < k; p++) {
      const av = alpha * (transA ? a[p * lda + i]! : a[i * lda + p]!);
      if (av === 0) continue;
      const bo = p * ldb;
      for (let j = 0; j < n; j++) c[co + j]! += av * b[bo + j]!;
    }
  }
}
