// Row kernels (AssemblyScript → WebAssembly SIMD): the elementwise passes of the engine — attention's
// softmax over score rows (forward and backward), SwiGLU, RMSNorm, the LM head's log-sum-exp, AdamW —
// four lanes at a time. src/engine/wasm/rows.ts loads them and keeps the scalar TypeScript definitions
// (JsRows) they are tested against.
//
// Pointers are byte offsets into the imported (shared) memory; widths and leading dimensions in floats.
// e^x: x = k·ln2 + z with k = round(x·log2 e) and z by Cody–Waite (ln2 split in two, so z is exact to
// float32), e^z by its Taylor polynomial to degree 6 on |z| ≤ ln2/2 (truncation < 2e-8), 2^k added to the
// exponent bits. Inputs are clamped to [-87.3, 88.7]: below, results are ~1e-38 instead of flushing to 0.

@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}

// The constants of exp4, splatted once per loop (V8 would materialise each splat on every iteration).
const LO: f32 = -87.3;
const HI: f32 = 88.7;
const LOG2E: f32 = 1.4426950408889634;
/** 1.5·2^23: adding it rounds to an integer k that is then the float's low bits. */
const SHIFTER: f32 = 12582912.0;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

@inline function exp4(x: v128): v128 {
  return exp4c(x, f32x4.splat(LO), f32x4.splat(HI), f32x4.splat(LOG2E), f32x4.splat(SHIFTER), f32x4.splat(LN2_HI), f32x4.splat(LN2_LO));
}

/**
 * e^x on four lanes with the constants given. pmin/pmax: one instruction each (min/max propagate NaN,
 * which costs several); the clamp keeps k in [-126, 128], where the exponent sum is a normal float.
 */
@inline function exp4c(x: v128, lo: v128, hi: v128, log2e: v128, shifter: v128, ln2hi: v128, ln2lo: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, lo), hi);
  const t = madd(x, log2e, shifter);
  const k = f32x4.sub(t, shifter);
  const z = f32x4.sub(f32x4.sub(x, f32x4.mul(k, ln2hi)), f32x4.mul(k, ln2lo));
  // Taylor to degree 6 by Estrin's scheme (shorter dependency chains than Horner's)
  const z2 = f32x4.mul(z, z);
  const z4 = f32x4.mul(z2, z2);
  const p01 = f32x4.add(f32x4.splat(1.0), z);
  const p23 = madd(z, f32x4.splat(0.16666666666666666), f32x4.splat(0.5));
  const p45 = madd(z, f32x4.splat(0.008333333333333333), f32x4.splat(0.041666666666666664));
  const p6 = f32x4.splat(0.001388888888888889);
  const p = madd(z4, madd(z2, p6, p45), madd(z2, p23, p01));
  return i32x4.add(p, i32x4.shl(i32x4.sub(t, shifter), 23));
}

@inline function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** max(init, x[0..n)). */
function rowMax(x: usize, n: i32, init: f32): f32 {
  let j = 0;
  let m = init;
  if (n >= 4) {
    let v = f32x4.splat(init);
    for (; j + 4 <= n; j += 4) v = f32x4.pmax(v, v128.load(x + (<usize>j << 2)));
    m = hmax(v);
  }
  for (; j < n; j++) m = max(m, load<f32>(x + (<usize>j << 2)));
  return m;
}

/** x[j] = e^(x[j] − shift) on [0, n); returns their sum. */
function expShift(x: usize, n: i32, shift: f32): f32 {
  const s = f32x4.splat(shift);
  const lo = f32x4.splat(LO), hi = f32x4.splat(HI), log2e = f32x4.splat(LOG2E), sh = f32x4.splat(SHIFTER), l2h = f32x4.splat(LN2_HI), l2l = f32x4.splat(LN2_LO);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const p = x + (<usize>j << 2);
    const e = exp4c(f32x4.sub(v128.load(p), s), lo, hi, log2e, sh, l2h, l2l);
    v128.store(p, e);
    acc = f32x4.add(acc, e);
  }
  let sum = hsum(acc);
  for (; j < n; j++) {
    const p = x + (<usize>j << 2);
    const e = exp1(load<f32>(p) - shift);
    store<f32>(p, e);
    sum += e;
  }
  return sum;
}

/** Visible columns of row i: vis0 + ⌊i / rep⌋ (rep > 0; the rows of one query share it), at most ld; rep = 0: vis0. */
@inline function visible(i: i32, vis0: i32, rep: i32, ld: i32): i32 {
  return rep > 0 ? min(vis0 + i / rep, ld) : vis0;
}

/**
 * Softmax numerators of m score rows: row i of `s` (leading dimension ld) has its first vis(i) columns
 * visible, and, when np > 0, the whole row i of `pre` ([m, np]) too. Each row becomes e^(x − max) over
 * what is visible (both parts), 0 past vis(i); its max and Σ go to outMax[i], outSum[i].
 */
export function softmaxRows(s: usize, ld: i32, m: i32, vis0: i32, rep: i32, pre: usize, np: i32, outMax: usize, outSum: usize): void {
  for (let i = 0; i < m; i++) softmaxRow(s + (<usize>i * <usize>ld << 2), ld, 0, visible(i, vis0, rep, ld), pre + (<usize>i * <usize>np << 2), np, outMax + (<usize>i << 2), outSum + (<usize>i << 2));
}

/** One row of ld floats seeing columns [a, a + n) and np floats at prow: numerators in place, the rest 0. */
@inline function softmaxRow(row: usize, ld: i32, a: i32, n: i32, prow: usize, np: i32, outMax: usize, outSum: usize): void {
  const win = row + (<usize>a << 2);
  let mx = rowMax(win, n, -Infinity);
  if (np > 0) mx = rowMax(prow, np, mx);
  let sum = expShift(win, n, mx);
  if (np > 0) sum += expShift(prow, np, mx);
  memory.fill(row, 0, <usize>a << 2);
  memory.fill(win + (<usize>n << 2), 0, <usize>(ld - a - n) << 2);
  store<f32>(outMax, mx);
  store<f32>(outSum, sum);
}

/**
 * softmaxRows with a window per row: row i of `s` sees columns [lo[i], lo[i] + vis[i]) (lo, vis: floats
 * holding integers), everything else in the row becomes 0; with np > 0 also all of row i of `pre`.
 */
export function softmaxRowsWindowed(s: usize, ld: i32, m: i32, lo: usize, vis: usize, pre: usize, np: i32, outMax: usize, outSum: usize): void {
  for (let i = 0; i < m; i++) {
    const o = <usize>i << 2;
    softmaxRow(s + (<usize>i * <usize>ld << 2), ld, <i32>load<f32>(lo + o), <i32>load<f32>(vis + o), pre + (<usize>i * <usize>np << 2), np, outMax + o, outSum + o);
  }
}

/**
 * The softmax backward on m rows (layout as softmaxRows): p becomes the probabilities — p·scale[i]
 * when `scale` ≠ 0 (p holds the forward's numerators), else e^(p − shift[i]) (p holds scores, shift the
 * row's log-sum-exp) — and ds (∂L/∂p on entry) becomes p ⊙ (ds − D[i]); both 0 past vis(i).
 */
export function softmaxGradRows(p: usize, ds: usize, ld: i32, m: i32, vis0: i32, rep: i32, shift: usize, scale: usize, D: usize): void {
  for (let i = 0; i < m; i++) {
    const vis = visible(i, vis0, rep, ld);
    const off = <usize>i * <usize>ld << 2;
    const prow = p + off;
    const drow = ds + off;
    const di = load<f32>(D + (<usize>i << 2));
    const dv = f32x4.splat(di);
    let j = 0;
    if (scale != 0) {
      const c = load<f32>(scale + (<usize>i << 2));
      const cv = f32x4.splat(c);
      for (; j + 4 <= vis; j += 4) {
        const o = <usize>j << 2;
        const pr = f32x4.mul(v128.load(prow + o), cv);
        v128.store(prow + o, pr);
        v128.store(drow + o, f32x4.mul(pr, f32x4.sub(v128.load(drow + o), dv)));
      }
      for (; j < vis; j++) {
        const o = <usize>j << 2;
        const pr = load<f32>(prow + o) * c;
        store<f32>(prow + o, pr);
        store<f32>(drow + o, pr * (load<f32>(drow + o) - di));
      }
    } else {
      const l = load<f32>(shift + (<usize>i << 2));
      const lv = f32x4.splat(l);
      for (; j + 4 <= vis; j += 4) {
        const o = <usize>j << 2;
        const pr = exp4(f32x4.sub(v128.load(prow + o), lv));
        v128.store(prow + o, pr);
        v128.store(drow + o, f32x4.mul(pr, f32x4.sub(v128.load(drow + o), dv)));
      }
      for (; j < vis; j++) {
        const o = <usize>j << 2;
        const pr = exp1(load<f32>(prow + o) - l);
        store<f32>(prow + o, pr);
        store<f32>(drow + o, pr * (load<f32>(drow + o) - di));
      }
    }
    const rest = <usize>(ld - vis) << 2;
    memory.fill(prow + (<usize>vis << 2), 0, rest);
    memory.fill(drow + (<usize>vis << 2), 0, rest);
  }
}

@inline function sigmoid4(x: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}

/** a = silu(g) ⊙ u over n floats (n a multiple of 4: callers pad). */
export function swigluForward(a: usize, g: usize, u: usize, n: i32): void {
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    const x = v128.load(g + o);
    v128.store(a + o, f32x4.mul(f32x4.mul(x, sigmoid4(x)), v128.load(u + o)));
  }
}

/** du = da ⊙ silu(g); dg = da ⊙ u ⊙ σ(g)·(1 + g·(1 − σ(g))) over n floats (a multiple of 4). */
export function swigluBackward(dg: usize, du: usize, da: usize, g: usize, u: usize, n: i32): void {
  const one = f32x4.splat(1);
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    const x = v128.load(g + o);
    const s = sigmoid4(x);
    const d = v128.load(da + o);
    v128.store(du + o, f32x4.mul(d, f32x4.mul(x, s)));
    v128.store(dg + o, f32x4.mul(f32x4.mul(d, v128.load(u + o)), f32x4.mul(s, madd(x, f32x4.sub(one, s), one))));
  }
}

/** Σ x[i]·y[i] over n floats (n a multiple of 4). */
@inline function dot(x: usize, y: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    const o = <usize>j << 2;
    a0 = madd(v128.load(x + o), v128.load(y + o), a0);
    a1 = madd(v128.load(x + o, 16), v128.load(y + o, 16), a1);
  }
  for (; j < n; j += 4) a0 = madd(v128.load(x + (<usize>j << 2)), v128.load(y + (<usize>j << 2)), a0);
  return hsum(f32x4.add(a0, a1));
}

/** RMSNorm of T rows of C floats (C a multiple of 4): y = x·r·w with r = 1/√(mean(x²) + eps) into rstd. */
export function rmsnormForward(y: usize, rstd: usize, x: usize, w: usize, T: i32, C: i32, eps: f32): void {
  const rowB = <usize>C << 2;
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * rowB;
    const yr = y + <usize>t * rowB;
    const r: f32 = 1 / sqrt<f32>(dot(xr, xr, C) / <f32>C + eps);
    store<f32>(rstd + (<usize>t << 2), r);
    const rv = f32x4.splat(r);
    for (let j = 0; j < C; j += 4) {
      const o = <usize>j << 2;
      v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), rv), v128.load(w + o)));
    }
  }
}

/** dx += r·dy⊙w − x·(Σ dy⊙w⊙x)·r³/C per row; dw += Σ_t dy⊙x·r when dw ≠ 0. */
export function rmsnormBackward(dx: usize, dw: usize, dy: usize, x: usize, w: usize, rstd: usize, T: i32, C: i32): void {
  const rowB = <usize>C << 2;
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * rowB;
    const dyr = dy + <usize>t * rowB;
    const dxr = dx + <usize>t * rowB;
    const r = load<f32>(rstd + (<usize>t << 2));
    let acc = f32x4.splat(0);
    for (let j = 0; j < C; j += 4) {
      const o = <usize>j << 2;
      acc = madd(f32x4.mul(v128.load(dyr + o), v128.load(w + o)), v128.load(xr + o), acc);
    }
    const k = f32x4.splat((hsum(acc) * r * r * r) / <f32>C);
    const rv = f32x4.splat(r);
    for (let j = 0; j < C; j += 4) {
      const o = <usize>j << 2;
      const xv = v128.load(xr + o);
      const dyv = v128.load(dyr + o);
      v128.store(dxr + o, f32x4.sub(madd(f32x4.mul(dyv, rv), v128.load(w + o), v128.load(dxr + o)), f32x4.mul(xv, k)));
      if (dw != 0) v128.store(dw + o, madd(f32x4.mul(dyv, xv), rv, v128.load(dw + o)));
    }
  }
}

/**
 * Per row of m rows of n floats (leading dimension ld): its max, Σ e^(z − max) and Σ e^(z − max)·z into
 * outMax, outSum, outDot (the log-sum-exp and the entropy of a row of logits), z left as it is.
 */
export function logSumExpRows(z: usize, ld: i32, m: i32, n: i32, outMax: usize, outSum: usize, outDot: usize): void {
  const lo = f32x4.splat(LO), hi = f32x4.splat(HI), log2e = f32x4.splat(LOG2E), sh = f32x4.splat(SHIFTER), l2h = f32x4.splat(LN2_HI), l2l = f32x4.splat(LN2_LO);
  for (let i = 0; i < m; i++) {
    const row = z + (<usize>i * <usize>ld << 2);
    const mx = rowMax(row, n, -Infinity);
    const s = f32x4.splat(mx);
    let acc = f32x4.splat(0);
    let dacc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const v = v128.load(row + (<usize>j << 2));
      const e = exp4c(f32x4.sub(v, s), lo, hi, log2e, sh, l2h, l2l);
      acc = f32x4.add(acc, e);
      dacc = madd(e, v, dacc);
    }
    let sum = hsum(acc);
    let dot = hsum(dacc);
    for (; j < n; j++) {
      const v = load<f32>(row + (<usize>j << 2));
      const e = exp1(v - mx);
      sum += e;
      dot += e * v;
    }
    store<f32>(outMax + (<usize>i << 2), mx);
    store<f32>(outSum + (<usize>i << 2), sum);
    store<f32>(outDot + (<usize>i << 2), dot);
  }
}

/** Row i of m rows of n floats (leading dimension ld) times scale[i]. */
export function scaleRows(x: usize, ld: i32, m: i32, n: i32, scale: usize): void {
  for (let i = 0; i < m; i++) {
    const row = x + (<usize>i * <usize>ld << 2);
    const c = load<f32>(scale + (<usize>i << 2));
    const cv = f32x4.splat(c);
    let j = 0;
    for (; j + 4 <= n; j += 4) v128.store(row + (<usize>j << 2), f32x4.mul(v128.load(row + (<usize>j << 2)), cv));
    for (; j < n; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) * c);
  }
}

/**
 * One AdamW step (PyTorch's: decoupled decay, bias-corrected moments) over n floats (a multiple of 4):
 * w ← w·decay; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; w ← w − stepSize·m / (√v / √bc2 + eps).
 */
export function adamw(w: usize, g: usize, m: usize, v: usize, n: i32, beta1: f32, beta2: f32, stepSize: f32, bc2Sqrt: f32, eps: f32, decay: f32): void {
  const b1 = f32x4.splat(beta1), c1 = f32x4.splat(1 - beta1);
  const b2 = f32x4.splat(beta2), c2 = f32x4.splat(1 - beta2);
  const ss = f32x4.splat(stepSize), inv2 = f32x4.splat(1 / bc2Sqrt), ev = f32x4.splat(eps), dv = f32x4.splat(decay);
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    const gv = v128.load(g + o);
    const mv = madd(b1, v128.load(m + o), f32x4.mul(c1, gv));
    const vv = madd(b2, v128.load(v + o), f32x4.mul(c2, f32x4.mul(gv, gv)));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
    const den = madd(f32x4.sqrt(vv), inv2, ev);
    v128.store(w + o, f32x4.sub(f32x4.mul(v128.load(w + o), dv), f32x4.div(f32x4.mul(ss, mv), den)));
  }
}
