// The GEMM entry point against a plain triple loop written here: every transpose combination, blocks of
// wider matrices through leading dimensions, alpha/beta, on the system BLAS, on the portable WebAssembly
// kernel (single-threaded and split between threads) and on the scalar TypeScript loop.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'node:test';
import { portableGemm, sgemm, sgemmJs } from '../../src/engine/blas.js';
import type { PortableGemm } from '../../src/engine/wasm/gemm.js';
import { rng } from '../../src/random.js';
import { skipUnless } from '../helpers/optional.js';

const REPO_ROOT = join(import.meta.dirname, '../..');

/** C = alpha·op(A)·op(B) + beta·C with explicit strides: the definition, nothing else. */
function naive(tA: boolean, tB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number): void {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (tA ? a[p * lda + i]! : a[i * lda + p]!) * (tB ? b[j * ldb + p]! : b[p * ldb + j]!);
      c[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * ldc + j]!);
    }
}

/** Largest |got − want| over the allowed float32 error: k·ε·(Σ|terms|) per element (ε = 2⁻²³). */
function worstError(tA: boolean, tB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c0: Float32Array, ldc: number, got: Float32Array, want: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let mag = 0;
      for (let p = 0; p < k; p++) mag += Math.abs((tA ? a[p * lda + i]! : a[i * lda + p]!) * (tB ? b[j * ldb + p]! : b[p * ldb + j]!));
      const bound = (k + 2) * 2 ** -23 * (Math.abs(alpha) * mag + Math.abs(beta === 0 ? 0 : beta * c0[i * ldc + j]!)) + 1e-30;
      worst = Math.max(worst, Math.abs(got[i * ldc + j]! - want[i * ldc + j]!) / bound);
    }
  return worst;
}

const random = rng(7);
const fill = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);

const loaded = portableGemm();
if (typeof loaded === 'string') throw new Error(`the portable GEMM must load after npm ci (npm run build:wasm): ${loaded}`);
const wasm: PortableGemm = loaded;

type Gemm = (tA: boolean, tB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number) => void;
const backends: [string, Gemm][] = [
  ['sgemm (system BLAS when present)', (tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => sgemm(tA, tB, m, n, k, alpha, a, b, beta, c, { lda, ldb, ldc })],
  ['portable WebAssembly GEMM', (...args) => wasm.sgemm(...args)],
  ['sgemmJs (scalar)', (tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => sgemmJs(tA, tB, m, n, k, alpha, a, b, beta, c, lda, ldb, ldc)],
];

/**
 * Checks one product on blocks of wider matrices: A's rows `padA` wider than op(A) needs, B's `padB`,
 * C's `padC`, each at an offset of 1. The gaps of A and B hold NaN, so a kernel that reads past a
 * block's columns (rather than only computing and discarding them) poisons C; C's gaps must survive.
 */
function check(fn: Gemm, tA: boolean, tB: boolean, m: number, n: number, k: number, alpha: number, beta: number, [padA, padB, padC] = [4, 2, 3], alloc: (len: number) => Float32Array = (len) => new Float32Array(len)): void {
  const lda = (tA ? m : k) + padA;
  const ldb = (tB ? k : n) + padB;
  const ldc = n + padC;
  const a = alloc(1 + (tA ? k : m) * lda);
  const b = alloc(1 + (tB ? n : k) * ldb);
  a.set(fill(a.length));
  b.set(fill(b.length));
  for (let i = 0; i < (tA ? k : m); i++) for (let j = tA ? m : k; j < lda; j++) if (1 + i * lda + j < a.length) a[1 + i * lda + j] = NaN;
  for (let i = 0; i < (tB ? n : k); i++) for (let j = tB ? k : n; j < ldb; j++) if (1 + i * ldb + j < b.length) b[1 + i * ldb + j] = NaN;
  const c0 = fill(1 + m * ldc);
  if (beta === 0) for (let i = 0; i < m; i++) c0[1 + i * ldc] = NaN; // beta = 0: C is not read, NaN included
  const want = c0.slice();
  naive(tA, tB, m, n, k, alpha, a.subarray(1), lda, b.subarray(1), ldb, beta, want.subarray(1), ldc);
  const got = alloc(c0.length);
  got.set(c0);
  fn(tA, tB, m, n, k, alpha, a.subarray(1), lda, b.subarray(1), ldb, beta, got.subarray(1), ldc);
  const where = `m=${m} n=${n} k=${k} tA=${tA} tB=${tB} alpha=${alpha} beta=${beta}`;
  const worst = worstError(tA, tB, m, n, k, alpha, a.subarray(1), lda, b.subarray(1), ldb, beta, c0.subarray(1), ldc, got.subarray(1), want.subarray(1));
  assert.ok(worst <= 1, `${where}: error ${worst.toFixed(2)}× the float32 bound`);
  // the padding between rows and the element before the block are untouched
  assert.ok(Object.is(got[0], c0[0]), `${where}: element before the block written`);
  for (let i = 0; i < m; i++) for (let j = n; j < ldc; j++) if (1 + i * ldc + j < got.length) assert.ok(Object.is(got[1 + i * ldc + j], c0[1 + i * ldc + j]), `${where}: gap of C written at row ${i}`);
}

const ALPHA_BETA = [
  [1, 0],
  [0.5, 1],
  [-2, 0.25],
] as const;

for (const [name, fn] of backends) {
  test(`${name}: all transposes, blocks of wider matrices (leading dimensions), alpha and beta`, () => {
    for (const tA of [false, true]) for (const tB of [false, true]) for (const [alpha, beta] of ALPHA_BETA) check(fn, tA, tB, 5, 7, 3, alpha, beta);
  });
}

test('portable WebAssembly GEMM: sizes off the SIMD width and tile edges, m = 1, n = 1, k = 1, k = 0, alpha = 0', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 37, 65],
    [37, 1, 65],
    [13, 9, 1],
    [3, 5, 0],
    [4, 8, 4],
    [6, 17, 259], // k crosses the 256-float k block with a tail of 3
    [9, 70, 33], // n crosses the 64-row block of the dot kernel
    [2, 530, 7], // n crosses the 512-column block of the outer kernel
  ];
  for (const [m, n, k] of shapes) for (const tA of [false, true]) for (const tB of [false, true]) for (const [alpha, beta] of [...ALPHA_BETA, [0, 0.5] as const]) check(wasm.sgemm.bind(wasm), tA, tB, m, n, k, alpha, beta);
  // wide gaps: rows copied one by one rather than as one span with their gaps
  for (const tA of [false, true]) for (const tB of [false, true]) check(wasm.sgemm.bind(wasm), tA, tB, 7, 11, 13, 1, 0.5, [40, 50, 60]);
  // contiguous operands (leading dimension = width): one copy each
  for (const tA of [false, true]) for (const tB of [false, true]) check(wasm.sgemm.bind(wasm), tA, tB, 7, 11, 13, 1, 0.5, [0, 0, 0]);
});

test('portable WebAssembly GEMM: arrays inside the kernel memory are used in place (operands and C, with offsets and gaps)', () => {
  const alloc = (len: number) => wasm.array(len);
  for (const tA of [false, true]) for (const tB of [false, true]) for (const [alpha, beta] of ALPHA_BETA) check(wasm.sgemm.bind(wasm), tA, tB, 9, 21, 19, alpha, beta, [4, 2, 3], alloc);
  const x = wasm.array(4);
  assert.deepEqual(Array.from(x), [0, 0, 0, 0]);
});

test('portable WebAssembly GEMM: products large enough to be cut into pieces for the threads (by columns and by rows)', async () => {
  const helpers = await wasm.ready();
  const before = wasm.counts;
  // n ≥ m cuts columns, m > n rows; sizes off the tiles so that the pieces end off the tile edges
  for (const [m, n, k] of [
    [67, 1029, 131],
    [1031, 45, 129],
  ] as const)
    for (const tA of [false, true]) for (const tB of [false, true]) check(wasm.sgemm.bind(wasm), tA, tB, m, n, k, -1.5, 0.5);
  if (wasm.threads > 1) {
    assert.ok(helpers >= 1, 'helper threads started');
    assert.equal(wasm.counts.parallel - before.parallel, 8, 'each of the 8 products was cut into pieces');
    // whoever is free takes a piece: on a loaded machine the caller may take them all, so repeat a
    // product until a helper has taken some (bounded), then check what they computed
    for (let i = 0; i < 200 && wasm.counts.helped === before.helped; i++) check(wasm.sgemm.bind(wasm), false, true, 64, 2048, 256, 1, 0);
    assert.ok(wasm.counts.helped > before.helped, 'a helper thread computed pieces');
    for (const tA of [false, true]) for (const tB of [false, true]) check(wasm.sgemm.bind(wasm), tA, tB, 1031, 45, 129, 2, 0);
  }
});

test('an operand shorter than its block is an error before any library reads past its end', () => {
  const [a, b, c] = [new Float32Array(6), new Float32Array(6), new Float32Array(4)];
  sgemm(false, false, 2, 2, 3, 1, a, b, 0, c); // 2×3 · 3×2: exactly enough
  assert.throws(() => sgemm(false, false, 2, 2, 3, 1, a.subarray(1), b, 0, c), /sgemm: A holds 5 floats, a 2×3 block with leading dimension 3 needs 6/);
  assert.throws(() => sgemm(false, true, 2, 3, 2, 1, a, b.subarray(2), 0, new Float32Array(6)), /sgemm: B holds 4 floats, a 3×2 block with leading dimension 2 needs 6/);
  assert.throws(() => sgemm(false, false, 2, 2, 3, 1, a, b, 0, c, { ldc: 3 }), /sgemm: C holds 4 floats, a 2×2 block with leading dimension 3 needs 5/);
  assert.throws(() => sgemm(false, false, 2, 2, 3, 1, a, b, 0, c, { lda: 2 }), /sgemm: leading dimension of A is 2, below its 3 columns/);
});

test('SQLRL_BLAS=none selects the portable path and the startup line says so, with the way to the fast one', () => {
  const script = `import { blasDescription, blasInfo, sgemm } from '${join(REPO_ROOT, 'src/engine/blas.ts')}';
const c = new Float32Array(64 * 64); sgemm(false, false, 64, 64, 64, 1, new Float32Array(64 * 64).fill(1), new Float32Array(64 * 64).fill(0.5), 0, c);
console.log(JSON.stringify({ info: blasInfo(), line: blasDescription(), c0: c[0] }));`;
  const run = (env: Record<string, string>) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString()) as { info: { backend: string; reason?: string }; line: string; c0: number };
  const none = run({ SQLRL_BLAS: 'none' });
  assert.equal(none.info.backend, 'wasm');
  assert.equal(none.c0, 32);
  assert.match(none.line, /^portable WebAssembly SIMD GEMM \((fused multiply-add|multiply \+ add), \d+ threads?; SQLRL_BLAS=none\); a system BLAS is about 2× faster on large products: (apt-get install libopenblas0-pthread|brew install openblas)/);
  const js = run({ SQLRL_BLAS: 'js' });
  assert.equal(js.info.backend, 'js');
  assert.equal(js.c0, 32);
  assert.match(js.line, /^scalar TypeScript GEMM, slow \(SQLRL_BLAS=js\)/);
  assert.throws(() => run({ SQLRL_BLAS: 'fast' }), /SQLRL_BLAS=fast: expected one of auto, openblas, blis, mkl, accelerate, none, js/);
});

/** Whether the dynamic loader finds a library (dlopen through a child, so this process loads nothing). */
function libraryPresent(name: string): boolean {
  try {
    execFileSync(process.execPath, ['-e', `require('koffi').load(${JSON.stringify(name)})`], { cwd: REPO_ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

for (const [choice, library, install] of [
  ['openblas', 'libopenblas.so.0', 'apt-get install libopenblas0-pthread'],
  ['blis', 'libblis.so.4', 'apt-get install libblis4-pthread'],
] as const) {
  test(`SQLRL_BLAS=${choice}: ${library} through CBLAS gives the triple loop's product (transposes, alpha, beta, m = 1 through sgemv)`, { skip: skipUnless(libraryPresent(library), `needs ${library}: ${install}`) }, () => {
    // the operands are generated here and passed to the child as JSON; the child multiplies with the library
    const cases = [37, 1].flatMap((m) => [false, true].flatMap((tA) => [false, true].map((tB) => ({ tA, tB, m, n: 29, k: 41, alpha: -1.5, beta: 0.5 }))));
    const inputs = cases.map(({ tA, tB, m, n, k }) => ({ a: Array.from(fill((tA ? k : m) * (tA ? m : k))), b: Array.from(fill((tB ? n : k) * (tB ? k : n))), c: Array.from(fill(m * n)) }));
    const script = `import { blasInfo, sgemm } from '${join(REPO_ROOT, 'src/engine/blas.ts')}'; import { readFileSync } from 'node:fs';
const { cases, inputs } = JSON.parse(readFileSync(0, 'utf8'));
const out = cases.map((p, i) => { const c = Float32Array.from(inputs[i].c); sgemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, Float32Array.from(inputs[i].a), Float32Array.from(inputs[i].b), p.beta, c); return Array.from(c); });
console.log(JSON.stringify({ backend: blasInfo().backend, out }));`;
    const r = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { input: JSON.stringify({ cases, inputs }), env: { ...process.env, SQLRL_BLAS: choice }, maxBuffer: 1 << 26 }).toString()) as { backend: string; out: number[][] };
    assert.equal(r.backend, choice);
    cases.forEach(({ tA, tB, m, n, k, alpha, beta }, i) => {
      const { a, b, c } = inputs[i]!;
      const want = Float32Array.from(c);
      naive(tA, tB, m, n, k, alpha, Float32Array.from(a), tA ? m : k, Float32Array.from(b), tB ? k : n, beta, want, n);
      const worst = worstError(tA, tB, m, n, k, alpha, Float32Array.from(a), tA ? m : k, Float32Array.from(b), tB ? k : n, beta, Float32Array.from(c), n, Float32Array.from(r.out[i]!), want);
      assert.ok(worst <= 1, `tA=${tA} tB=${tB}: error ${worst.toFixed(2)}× the float32 bound`);
    });
  });
}
