// The row kernels (WebAssembly SIMD, and the scalar TypeScript fallback) against the definitions
// computed here in float64: softmax numerators with a causal edge and a prefix, the softmax backward
// in both of its modes, SwiGLU forward and backward, and e^x at the edges of its range.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { JsRows, rowKernels, type RowKernels } from '../../src/engine/wasm/rows.js';
import { rng } from '../../src/random.js';

const REPO_ROOT = join(import.meta.dirname, '../..');
const random = rng(11);
const fill = (n: number, lo: number, hi: number) => Float64Array.from({ length: n }, () => lo + random() * (hi - lo));

/** |got − want| ≤ tol·|want| + abs, element by element. */
function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, abs = 1e-30, what = ''): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol * Math.abs(want[i]!) + abs, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

const kernels: [string, RowKernels][] = [
  ['scalar', new JsRows()],
  ['default', rowKernels()],
];

test('the row kernels are WebAssembly when built', () => {
  if (!existsSync(join(REPO_ROOT, 'dist/engine/wasm/rows.wasm'))) return;
  if (process.env.SQLRL_ROWS === 'js') return;
  assert.equal(rowKernels().kind, 'wasm');
});

for (const [name, K] of kernels) {
  test(`${name}: softmax numerators over a causal edge and a prefix equal the float64 definition`, () => {
    // m rows of width ld; row i sees vis0 + ⌊i/rep⌋ columns (capped at ld) and every column of its prefix row
    for (const { m, ld, vis0, rep, np } of [
      { m: 12, ld: 13, vis0: 2, rep: 3, np: 0 },
      { m: 9, ld: 37, vis0: 30, rep: 1, np: 21 },
      { m: 7, ld: 5, vis0: 5, rep: 0, np: 6 },
      { m: 6, ld: 64, vis0: 61, rep: 2, np: 0 },
    ]) {
      const s64 = fill(m * ld, -30, 30);
      const p64 = fill(m * np, -30, 30);
      const s = K.take('t.s', m * ld);
      s.set(s64);
      const pre = np ? K.take('t.p', m * np) : null;
      pre?.set(p64);
      const mx = K.take('t.max', m);
      const sum = K.take('t.sum', m);
      K.softmaxRows(s, ld, m, vis0, rep, pre, np, mx, sum);
      for (let i = 0; i < m; i++) {
        const vis = rep > 0 ? Math.min(vis0 + Math.floor(i / rep), ld) : vis0;
        // inputs as the kernel saw them (rounded to float32)
        const own = Array.from({ length: vis }, (_, j) => Math.fround(s64[i * ld + j]!));
        const pr = Array.from({ length: np }, (_, j) => Math.fround(p64[i * np + j]!));
        const max = Math.max(...own, ...pr);
        assert.equal(mx[i], Math.fround(max), `row ${i} max`);
        const eOwn = own.map((x) => Math.exp(x - max));
        const ePre = pr.map((x) => Math.exp(x - max));
        // x − max is itself a float32: its rounding (|x − max|·2⁻²⁴) adds to the exponential's 1e-6
        const expClose = (got: Float32Array, xs: number[], what: string) =>
          xs.forEach((x, j) => {
            const want = Math.exp(x - max);
            assert.ok(Math.abs(got[j]! - want) <= (1e-6 + Math.abs(x - max) * 2 ** -24) * want + 1e-37, `${what}[${j}]: ${got[j]} vs ${want}`);
          });
        expClose(s.subarray(i * ld, i * ld + vis), own, `row ${i} own`);
        assert.ok(s.subarray(i * ld + vis, (i + 1) * ld).every((x) => x === 0), `row ${i}: zero past the causal edge`);
        if (pre) expClose(pre.subarray(i * np, (i + 1) * np), pr, `row ${i} prefix`);
        close([sum[i]!], [[...eOwn, ...ePre].reduce((a, b) => a + b, 0)], 2e-6, 0, `row ${i} sum`);
      }
    }
  });

  test(`${name}: the softmax backward (from scores and a log-sum-exp, or from numerators and 1/Σ) equals the float64 definition`, () => {
    const m = 10;
    const ld = 23;
    const vis0 = 17;
    const rep = 2;
    const scores = fill(m * ld, -8, 8);
    const dp = fill(m * ld, -1, 1);
    const D = fill(m, -0.5, 0.5);
    const visOf = (i: number) => Math.min(vis0 + Math.floor(i / rep), ld);
    // the row's log-sum-exp over what it sees
    const lse = Array.from({ length: m }, (_, i) => {
      const row = Array.from({ length: visOf(i) }, (_, j) => Math.fround(scores[i * ld + j]!));
      const mx = Math.max(...row);
      return mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0));
    });
    const wantP = new Float64Array(m * ld);
    const wantDs = new Float64Array(m * ld);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < visOf(i); j++) {
        const p = Math.exp(Math.fround(scores[i * ld + j]!) - Math.fround(lse[i]!));
        wantP[i * ld + j] = p;
        wantDs[i * ld + j] = p * (Math.fround(dp[i * ld + j]!) - Math.fround(D[i]!));
      }
    for (const fromNumerators of [false, true]) {
      const p = K.take('t.pp', m * ld);
      const ds = K.take('t.ds', m * ld);
      const shift = K.take('t.shift', m);
      const scale = K.take('t.scale', m);
      const Dk = K.take('t.D', m);
      Dk.set(D);
      ds.set(dp);
      if (fromNumerators) {
        // numerators e^(s − lse + 1) with 1/Σ = e^-1: the same probabilities
        for (let i = 0; i < m * ld; i++) p[i] = Math.exp(Math.fround(scores[i]!) - lse[Math.floor(i / ld)]! + 1);
        scale.fill(Math.exp(-1));
      } else {
        p.set(scores);
        shift.set(lse);
      }
      K.softmaxGradRows(p, ds, ld, m, vis0, rep, shift, fromNumerators ? scale : null, Dk);
      close(Array.from(p), Array.from(wantP), 2e-6, 1e-12, `p (numerators: ${fromNumerators})`);
      close(Array.from(ds), Array.from(wantDs), 5e-6, 1e-9, `ds (numerators: ${fromNumerators})`);
    }
  });

  test(`${name}: SwiGLU forward and backward equal the float64 definition (lengths past a chunk, not a multiple of 4)`, () => {
    const n = 2 * 16384 + 7;
    const g = Float32Array.from(fill(n, -12, 12));
    const u = Float32Array.from(fill(n, -2, 2));
    const da = Float32Array.from(fill(n, -1, 1));
    const a = new Float32Array(n + 1).fill(42);
    K.swigluForward(a, g, u, n);
    assert.equal(a[n], 42, 'nothing written past n');
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    close(Array.from(a.subarray(0, n)), Array.from(g, (x, i) => x * sig(x) * u[i]!), 2e-6, 1e-12, 'a');
    const dg = new Float32Array(n);
    const du = new Float32Array(n);
    K.swigluBackward(dg, du, da, g, u, n);
    close(Array.from(du), Array.from(g, (x, i) => da[i]! * x * sig(x)), 2e-6, 1e-12, 'du');
    // dg's last factor 1 + x(1 − σ) cancels near x ≈ −1.28: the error is relative to its terms' size
    g.forEach((x, i) => {
      const want = da[i]! * u[i]! * sig(x) * (1 + x * (1 - sig(x)));
      const size = Math.abs(da[i]! * u[i]! * sig(x)) * (1 + Math.abs(x) * (1 - sig(x)));
      assert.ok(Math.abs(dg[i]! - want) <= 4e-6 * size + 1e-12, `dg[${i}]: ${dg[i]} vs ${want}`);
    });
  });

  test(`${name}: RMSNorm forward and backward equal the float64 definition (rows past a chunk; a width the SIMD path does not take)`, () => {
    for (const [T, C] of [
      [40, 576],
      [5, 6],
    ] as const) {
      const x = Float32Array.from(fill(T * C, -3, 3));
      const w = Float32Array.from(fill(C, 0.5, 1.5));
      const dy = Float32Array.from(fill(T * C, -1, 1));
      const eps = 1e-5;
      const y = new Float32Array(T * C);
      const rstd = new Float32Array(T);
      K.rmsnormForward(y, rstd, x, w, T, C, eps);
      const dx0 = Float32Array.from(fill(T * C, -1, 1));
      const dw0 = Float32Array.from(fill(C, -1, 1));
      const dx = dx0.slice();
      const dw = dw0.slice();
      K.rmsnormBackward(dx, dw, dy, x, w, rstd, T, C);
      const wantDw = Float64Array.from(dw0);
      for (let t = 0; t < T; t++) {
        const row = Array.from(x.subarray(t * C, (t + 1) * C));
        const r = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / C + eps);
        close([rstd[t]!], [r], 1e-6, 0, `rstd ${t}`);
        close(Array.from(y.subarray(t * C, (t + 1) * C)), row.map((v, i) => v * r * w[i]!), 2e-6, 1e-7, `y row ${t}`);
        // ∂/∂x_i of Σ_j dy_j·x_j·r·w_j: r·dy_i·w_i − x_i·r³/C·Σ_j dy_j·w_j·x_j
        const s = row.reduce((a, v, j) => a + dy[t * C + j]! * w[j]! * v, 0);
        const want = row.map((v, i) => dx0[t * C + i]! + r * dy[t * C + i]! * w[i]! - (v * r * r * r * s) / C);
        close(Array.from(dx.subarray(t * C, (t + 1) * C)), want, 1e-5, 1e-5, `dx row ${t}`);
        row.forEach((v, i) => (wantDw[i]! += dy[t * C + i]! * v * r));
      }
      close(Array.from(dw), Array.from(wantDw), 1e-5, 1e-5, 'dw');
    }
  });

  test(`${name}: e^x at the edges: 0 → 1, far below → ~0, up to 88 finite`, () => {
    const xs = [0, -1e-8, 1e-8, -87, -100, -1e30, 60, 88];
    const s = K.take('t.e', xs.length);
    s.set(xs);
    const mx = K.take('t.m', 1);
    const sum = K.take('t.sum', 1);
    // one row, every column visible; the max (88) is subtracted, so compare e^(x − 88)
    K.softmaxRows(s, xs.length, 1, xs.length, 0, null, 0, mx, sum);
    assert.equal(mx[0], 88);
    for (let j = 0; j < xs.length; j++) {
      const want = Math.exp(xs[j]! - 88);
      assert.ok(Number.isFinite(s[j]!) && s[j]! >= 0, `e^(${xs[j]} − 88) is finite and ≥ 0`);
      assert.ok(Math.abs(s[j]! - want) <= 1e-6 * want + 2e-38, `e^(${xs[j]} − 88): ${s[j]} vs ${want}`);
    }
    assert.equal(s[xs.length - 1], 1);
  });
}

test('a view that does not come from take() is refused, and views taken before the memory grew stay valid', () => {
  const K = rowKernels();
  if (K.kind !== 'wasm') return;
  const early = K.take('t.early', 8);
  early.fill(3);
  K.take('t.big', 8 << 20); // 32 MiB: the memory grows
  const mx = K.take('t.mx', 8);
  const sum = K.take('t.sm', 8);
  K.softmaxRows(early, 8, 1, 8, 0, null, 0, mx, sum);
  assert.ok(early.every((x) => Math.abs(x - 1) < 1e-7));
  assert.equal(sum[0], 8);
  assert.throws(() => K.softmaxRows(new Float32Array(8), 8, 1, 8, 0, null, 0, mx, sum), /not a view from take/);
});

for (const [name, K] of kernels)
  test(`${name}: log-sum-exp rows (max, Σe, Σe·z) and row scaling equal the float64 definition`, () => {
    const m = 3;
    const n = 1003;
    const ld = 1010;
    const z64 = fill(m * ld, -20, 20);
    const z = K.take('t.z', m * ld);
    z.set(z64);
    const [mx, sum, dot] = [K.take('t.lmax', m), K.take('t.lsum', m), K.take('t.ldot', m)];
    K.logSumExpRows(z, ld, m, n, mx, sum, dot);
    for (let i = 0; i < m; i++) {
      const row = Array.from({ length: n }, (_, j) => Math.fround(z64[i * ld + j]!));
      const max = Math.max(...row);
      assert.equal(mx[i], Math.fround(max));
      const e = row.map((v) => Math.exp(v - max));
      close([sum[i]!], [e.reduce((a, b) => a + b, 0)], 1e-5, 0, `row ${i} Σe`);
      const want = e.reduce((a, b, j) => a + b * row[j]!, 0);
      assert.ok(Math.abs(dot[i]! - want) <= 1e-5 * e.reduce((a, b, j) => a + b * Math.abs(row[j]!), 0), `row ${i} Σe·z: ${dot[i]} vs ${want}`);
    }
    assert.deepEqual(Array.from(z), Array.from(z64, (v) => Math.fround(v)), 'z is left as it is');
    const scale = K.take('t.lscale', m);
    scale.set([2, -0.5, 0]);
    K.scaleRows(z, ld, m, n, scale);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < ld; j++) {
        const v = Math.fround(z64[i * ld + j]!);
        assert.equal(z[i * ld + j], j < n ? Math.fround(v * [2, -0.5, 0][i]!) : v, `scaled ${i},${j}`);
      }
  });

for (const [name, K] of kernels)
  test(`${name}: softmax numerators over a window per row (and a prefix) equal the float64 definition`, () => {
    const m = 6;
    const ld = 40;
    const np = 9;
    const lo = [0, 0, 13, 13, 27, 35];
    const vis = [5, 5, 1, 7, 13, 5];
    const s64 = fill(m * ld, -20, 20);
    const p64 = fill(m * np, -20, 20);
    const s = K.take('t.ws', m * ld);
    s.set(s64);
    const pre = K.take('t.wp', m * np);
    pre.set(p64);
    const [loV, visV, mx, sum] = [K.take('t.wlo', m), K.take('t.wvis', m), K.take('t.wmax', m), K.take('t.wsum', m)];
    loV.set(lo);
    visV.set(vis);
    K.softmaxRowsWindowed(s, ld, m, loV, visV, pre, np, mx, sum);
    for (let i = 0; i < m; i++) {
      const own = Array.from({ length: vis[i]! }, (_, j) => Math.fround(s64[i * ld + lo[i]! + j]!));
      const pr = Array.from({ length: np }, (_, j) => Math.fround(p64[i * np + j]!));
      const max = Math.max(...own, ...pr);
      assert.equal(mx[i], Math.fround(max), `row ${i} max`);
      let total = 0;
      for (let j = 0; j < ld; j++) {
        const inWin = j >= lo[i]! && j < lo[i]! + vis[i]!;
        const want = inWin ? Math.exp(Math.fround(s64[i * ld + j]!) - max) : 0;
        total += want;
        const x = Math.abs(Math.fround(s64[i * ld + j]!) - max);
        assert.ok(Math.abs(s[i * ld + j]! - want) <= (1e-6 + x * 2 ** -24) * want + 1e-37, `row ${i} column ${j}: ${s[i * ld + j]} vs ${want}`);
      }
      pr.forEach((v, j) => {
        const want = Math.exp(v - max);
        total += want;
        assert.ok(Math.abs(pre[i * np + j]! - want) <= (1e-6 + Math.abs(v - max) * 2 ** -24) * want + 1e-37, `row ${i} prefix ${j}`);
      });
      close([sum[i]!], [total], 2e-6, 0, `row ${i} sum`);
    }
  });

test('SQLRL_ROWS=js runs the scalar loops and says why (the policy line repeats it)', () => {
  const script = `import { rowKernels } from './src/engine/wasm/rows.ts'; const k = rowKernels(); console.log(k.kind + ' ' + k.reason);`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, env: { ...process.env, SQLRL_ROWS: 'js' }, encoding: 'utf8' });
  assert.equal(out.trim(), 'js SQLRL_ROWS=js');
});

for (const [name, K] of kernels)
  test(`${name}: one AdamW step equals its float64 definition (past a chunk, a length not a multiple of 4)`, () => {
    const n = 16384 + 5;
    const w = Float32Array.from(fill(n, -1, 1));
    const g = Float32Array.from(fill(n, -0.5, 0.5));
    const m = Float32Array.from(fill(n, -0.1, 0.1));
    const v = Float32Array.from(fill(n, 0, 0.01));
    const [w0, m0, v0] = [w.slice(), m.slice(), v.slice()];
    const o = { beta1: 0.9, beta2: 0.95, stepSize: 0.01 / (1 - 0.9 ** 3), bc2Sqrt: Math.sqrt(1 - 0.95 ** 3), eps: 1e-8, decay: 1 - 0.01 * 0.1 };
    K.adamw(w, g, m, v, n, o);
    for (let i = 0; i < n; i++) {
      const mi = o.beta1 * m0[i]! + (1 - o.beta1) * g[i]!;
      const vi = o.beta2 * v0[i]! + (1 - o.beta2) * g[i]! ** 2;
      const wi = w0[i]! * o.decay - (o.stepSize * mi) / (Math.sqrt(vi) / o.bc2Sqrt + o.eps);
      assert.ok(Math.abs(m[i]! - mi) <= 1e-7 + 1e-6 * Math.abs(mi), `m[${i}]`);
      assert.ok(Math.abs(v[i]! - vi) <= 1e-9 + 1e-6 * Math.abs(vi), `v[${i}]`);
      assert.ok(Math.abs(w[i]! - wi) <= 1e-6, `w[${i}]: ${w[i]} vs ${wi}`);
    }
  });
