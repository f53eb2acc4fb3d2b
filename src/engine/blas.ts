// Matrix products, row-major throughout. In order of preference:
//  1. a system BLAS through the koffi FFI (cblas_sgemm / cblas_sgemv): OpenBLAS, BLIS, MKL (libmkl_rt),
//     or Apple's Accelerate;
//  2. the portable path: a WebAssembly SIMD kernel on every core (./wasm/gemm.ts), when none loads;
//  3. the scalar TypeScript loop (`sgemmJs`), when the kernel is not built or WebAssembly SIMD is missing.
// SQLRL_BLAS picks one: auto (default) | openblas | blis | mkl | accelerate | none (the portable path,
// for tests and benchmarks) | js (the scalar loop).
//
// Debian 12's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to its old
// Prescott kernels (4-9x slower). When the CPU has AVX-512 and the user did not choose a core type,
// we set OPENBLAS_CORETYPE=SkylakeX in this process before the library loads (the user's own
// OPENBLAS_CORETYPE always wins); `blasInfo()` reports the kernel actually active.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { UsageError } from '../errors.js';
import { loadPortableGemm, type PortableGemm } from './wasm/gemm.js';

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

type SgemmFn = (order: number, ta: number, tb: number, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number) => void;
type SgemvFn = (order: number, t: number, m: number, n: number, alpha: number, a: Float32Array, lda: number, x: Float32Array, incx: number, beta: number, y: Float32Array, incy: number) => void;

type NativeBackend = 'openblas' | 'blis' | 'mkl' | 'accelerate';
const CHOICES = ['auto', 'openblas', 'blis', 'mkl', 'accelerate', 'none', 'js'] as const;

export interface BlasInfo {
  /** wasm: the portable WebAssembly SIMD kernel; js: the scalar TypeScript loop. */
  backend: NativeBackend | 'wasm' | 'js';
  library?: string;
  coreName?: string;
  coreTypeSetBySqlrl?: boolean;
  threads?: number;
  /** portable path: products use a fused multiply-add (relaxed SIMD) */
  fma?: boolean;
  /** why a faster path is not in use (SQLRL_BLAS, nothing found, kernel not built) */
  reason?: string;
}

let sgemmNative: SgemmFn | null = null;
let sgemvNative: SgemvFn | null = null;
let portable: PortableGemm | null = null;
let portableTried: PortableGemm | string | undefined;
let info: BlasInfo = { backend: 'js' };
let loaded = false;
/** Libraries found but not usable, for the startup line. */
const skipped: string[] = [];

function cpuHasAvx512(): boolean {
  try {
    return /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/** Directories a user's BLAS may sit in beyond the loader's own search (conda, /opt, LD_LIBRARY_PATH). */
function libraryDirs(): string[] {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), process.env.CONDA_PREFIX ? join(process.env.CONDA_PREFIX, 'lib') : '', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/opt/OpenBLAS/lib'];
  return [...new Set(dirs.filter((d) => d && existsSync(d)))];
}

/** Versioned OpenBLAS files (libopenblasp-r0.3.21.so, libopenblaso-r0.3.26.so) in the usual places. */
function versionedOpenblas(): string[] {
  const out: string[] = [];
  for (const dir of libraryDirs())
    try {
      for (const f of readdirSync(dir)) if (/^libopenblas[po]?-r[\d.]+\.so$/.test(f)) out.push(join(dir, f));
    } catch {
      // unreadable directory
    }
  return out;
}

/** Library names per backend, most specific first. 64-bit-integer builds (openblas64_, ILP64) are a
 *  different ABI (cblas_sgemm64_ or 64-bit ints): their names are not listed and ILP64 is rejected below. */
function candidates(): [NativeBackend, string][] {
  if (process.platform === 'darwin')
    return [
      ['accelerate', '/System/Library/Frameworks/Accelerate.framework/Accelerate'],
      ...['libopenblas.dylib', '/opt/homebrew/opt/openblas/lib/libopenblas.dylib', '/usr/local/opt/openblas/lib/libopenblas.dylib'].map((n): [NativeBackend, string] => ['openblas', n]),
    ];
  const conda = process.env.CONDA_PREFIX ? [join(process.env.CONDA_PREFIX, 'lib')] : [];
  const inConda = (name: string) => conda.map((d) => join(d, name)).filter(existsSync);
  return [
    ...['libopenblas.so.0', 'libopenblas.so', ...inConda('libopenblas.so.0'), ...versionedOpenblas()].map((n): [NativeBackend, string] => ['openblas', n]),
    ...['libblis.so.4', 'libblis.so', ...inConda('libblis.so.4')].map((n): [NativeBackend, string] => ['blis', n]),
    ...['libmkl_rt.so.3', 'libmkl_rt.so.2', 'libmkl_rt.so', 'libmkl_rt.so.1', ...inConda('libmkl_rt.so.3'), ...inConda('libmkl_rt.so.2')].map((n): [NativeBackend, string] => ['mkl', n]),
    // the distribution's BLAS alternative, when it is one of the above (the netlib reference BLAS is
    // slower than the portable kernel, so it is not taken)
    ...(['openblas', 'blis', 'mkl'] as const).flatMap((b) => ['libcblas.so.3', 'libblas.so.3'].map((n): [NativeBackend, string] => [b, n])),
  ];
}

/** Whether the dynamic loader finds `name` (lazy binding: its own dependencies are not resolved yet). */
function loadable(name: string): boolean {
  try {
    koffi.load(name, { lazy: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * MKL's runtime picks its threading layer at the first call: Intel OpenMP by default, and a missing
 * libiomp5 then ends the process (an unresolved symbol). Unless the user chose a layer, use GNU OpenMP
 * when MKL's GNU layer and libgomp are there, else sequential MKL. Returns the layer set, if any.
 */
function chooseMklThreading(): string | undefined {
  if (process.env.MKL_THREADING_LAYER || loadable('libiomp5.so')) return undefined;
  // MKL's GNU layer cannot be probed by loading it alone (it needs MKL's core first): look for the file
  const gnuLayer = libraryDirs().some((d) => ['libmkl_gnu_thread.so.3', 'libmkl_gnu_thread.so.2', 'libmkl_gnu_thread.so'].some((f) => existsSync(join(d, f))));
  const layer = gnuLayer && loadable('libgomp.so.1') ? 'GNU' : 'SEQUENTIAL';
  process.env.MKL_THREADING_LAYER = layer;
  return layer;
}

/** Loads `name` and binds CBLAS; returns the backend facts, or null when it is not that library or unusable. */
function tryNative(backend: NativeBackend, name: string): Omit<BlasInfo, 'backend' | 'coreTypeSetBySqlrl'> | null {
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(name);
  } catch {
    return null;
  }
  const fn = <T>(sig: string): T | null => {
    try {
      return lib.func(sig) as unknown as T;
    } catch {
      return null;
    }
  };
  const sgemmFn = fn<SgemmFn>('void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, _Inout_ float *, int)');
  const sgemvFn = fn<SgemvFn>('void cblas_sgemv(int, int, int, int, float, const float *, int, const float *, int, float, _Inout_ float *, int)');
  if (!sgemmFn || !sgemvFn) return null;
  let facts: Omit<BlasInfo, 'backend' | 'coreTypeSetBySqlrl'> = { library: name };
  if (backend === 'openblas') {
    const corename = fn<() => string>('const char *openblas_get_corename()');
    if (!corename) return null; // another BLAS under an OpenBLAS name: not what was asked for
    const config = fn<() => string>('const char *openblas_get_config()')?.() ?? '';
    if (/USE64BITINT/.test(config)) {
      // 64-bit integers: our 32-bit int arguments would be misread
      skipped.push(`${name}: a 64-bit-integer (ILP64) build`);
      return null;
    }
    facts = { ...facts, coreName: corename(), threads: fn<() => number>('int openblas_get_num_threads()')?.() };
  } else if (backend === 'blis') {
    const version = fn<() => string>('const char *bli_info_get_version_str()');
    if (!version) return null;
    // BLIS runs on one thread unless told otherwise; use the cores unless the user set a count
    if (!process.env.BLIS_NUM_THREADS && !process.env.OMP_NUM_THREADS) fn<(n: number) => void>('void bli_thread_set_num_threads(long)')?.(availableParallelism());
    facts = { ...facts, coreName: `version ${version()}`, threads: fn<() => number>('long bli_thread_get_num_threads()')?.() };
  } else if (backend === 'mkl') {
    const threads = fn<() => number>('int MKL_Get_Max_Threads()');
    if (!threads) return null;
    const layer = chooseMklThreading();
    facts = { ...facts, threads: threads(), ...(layer ? { coreName: `MKL_THREADING_LAYER=${layer} set by sqlrl (no libiomp5)` } : {}) };
  }
  sgemmNative = sgemmFn;
  sgemvNative = sgemvFn;
  return facts;
}

function loadPortable(): PortableGemm | string {
  portableTried ??= loadPortableGemm();
  return portableTried;
}

function load(): void {
  if (loaded) return;
  loaded = true;
  const choice = (process.env.SQLRL_BLAS || 'auto').toLowerCase();
  if (!(CHOICES as readonly string[]).includes(choice)) throw new UsageError(`SQLRL_BLAS=${process.env.SQLRL_BLAS}: expected one of ${CHOICES.join(', ')}`);
  if (choice === 'js') {
    info = { backend: 'js', reason: 'SQLRL_BLAS=js' };
    return;
  }
  let reason = choice === 'none' ? 'SQLRL_BLAS=none' : choice === 'auto' ? 'no system BLAS found' : `SQLRL_BLAS=${choice}: not found`;
  if (choice !== 'none') {
    let coreTypeSet = false;
    const wantOpenblas = choice === 'auto' || choice === 'openblas';
    if (wantOpenblas && !process.env.OPENBLAS_CORETYPE && process.platform === 'linux' && cpuHasAvx512()) {
      process.env.OPENBLAS_CORETYPE = 'SkylakeX';
      coreTypeSet = true;
    }
    for (const [backend, name] of candidates()) {
      if (choice !== 'auto' && choice !== backend) continue;
      const facts = tryNative(backend, name);
      if (!facts) continue;
      info = { backend, ...facts, coreTypeSetBySqlrl: backend === 'openblas' && coreTypeSet };
      if (backend !== 'openblas' && coreTypeSet) delete process.env.OPENBLAS_CORETYPE;
      return;
    }
    if (coreTypeSet) delete process.env.OPENBLAS_CORETYPE;
    if (skipped.length) reason += ` (skipped ${skipped.join(', ')})`;
  }
  const p = loadPortable();
  if (typeof p === 'string') {
    info = { backend: 'js', reason: `${reason}; ${p}` };
    return;
  }
  portable = p;
  info = { backend: 'wasm', threads: p.threads, fma: p.fma, reason };
}

export function blasInfo(): BlasInfo {
  load();
  return info;
}

/** How to get a system BLAS on this platform (the fast path). */
function installHint(): string {
  return process.platform === 'darwin' ? 'brew install openblas' : 'apt-get install libopenblas0-pthread (Debian/Ubuntu; dnf install openblas on Fedora)';
}

/** One line for the startup banner: which path runs and, on a slow one, how to get the fast one. */
export function blasDescription(): string {
  const i = blasInfo();
  if (i.backend === 'wasm') {
    return `portable WebAssembly SIMD GEMM (${i.fma ? 'fused multiply-add' : 'multiply + add'}, ${i.threads} thread${i.threads === 1 ? '' : 's'}; ${i.reason}); a system BLAS is about 2× faster on large products: ${installHint()}`;
  }
  if (i.backend === 'js') return `scalar TypeScript GEMM, slow (${i.reason}); for the fast path: ${installHint()}`;
  const name = { openblas: 'OpenBLAS', blis: 'BLIS', mkl: 'MKL', accelerate: 'Accelerate' }[i.backend];
  const kernel = i.backend === 'openblas' ? `, kernel ${i.coreName ?? '?'}${i.coreTypeSetBySqlrl ? ', OPENBLAS_CORETYPE=SkylakeX set by sqlrl' : ''}` : i.coreName ? `, ${i.coreName}` : '';
  return `${name} ${i.library}${kernel}${i.threads ? `, ${i.threads} thread${i.threads === 1 ? '' : 's'}` : ''}`;
}

/** Leading dimensions (row strides) when a matrix is a block of a larger row-major array. */
export interface LeadingDims {
  lda?: number;
  ldb?: number;
  ldc?: number;
}

/** Products below this many multiply-adds run in the scalar loop on the portable path: copying the
 *  operands into the kernel's memory costs more than the product. */
const PORTABLE_MIN_MACS = 512;

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
  checkExtent('A', a, transA ? k : m, transA ? m : k, lda, k > 0);
  checkExtent('B', b, transB ? n : k, transB ? k : n, ldb, k > 0);
  checkExtent('C', c, m, n, ldc, true);
  if (sgemmNative) {
    if (m === 1 && !transA && ldc === n) {
      // one row: y = op(B)ᵀ x is a matrix-vector product, 2-3x faster than sgemm in OpenBLAS 0.3.21
      sgemvNative!(ROW_MAJOR, transB ? NO_TRANS : TRANS, transB ? n : k, transB ? k : n, alpha, b, ldb, a, 1, beta, c, 1);
      return;
    }
    sgemmNative(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (portable && m * n * k >= PORTABLE_MIN_MACS) {
    portable.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  sgemmJs(transA, transB, m, n, k, alpha, a, b, beta, c, lda, ldb, ldc);
}

/** An operand shorter than the rows×cols block it holds would be read (or written) out of bounds by a
 *  native library: a programming error, reported before it corrupts memory. */
function checkExtent(name: string, x: Float32Array, rows: number, cols: number, ld: number, used: boolean): void {
  if (!used || rows === 0 || cols === 0) return;
  if (ld < cols) throw new RangeError(`sgemm: leading dimension of ${name} is ${ld}, below its ${cols} columns`);
  if (x.length < (rows - 1) * ld + cols) throw new RangeError(`sgemm: ${name} holds ${x.length} floats, a ${rows}×${cols} block with leading dimension ${ld} needs ${(rows - 1) * ld + cols}`);
}

/**
 * The portable WebAssembly GEMM whatever SQLRL_BLAS selects (tests and benchmarks compare backends),
 * or why it cannot load. Same arguments as `sgemmJs`, leading dimensions explicit.
 */
export function portableGemm(): PortableGemm | string {
  return loadPortable();
}

/**
 * A zeroed Float32Array the active GEMM reads and writes without copying: on the portable path it lives
 * in the kernel's WebAssembly memory (never freed: for long-lived buffers such as weights or a reused
 * activation arena), otherwise it is an ordinary array.
 */
export function gemmArray(length: number): Float32Array {
  load();
  return portable ? portable.array(length) : new Float32Array(length);
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
