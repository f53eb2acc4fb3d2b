// The portable GEMM kernel (AssemblyScript → WebAssembly SIMD), used when no system BLAS loads.
// C[m,n] = alpha·op(A)·op(B) + beta·C, row-major, on one thread over the rows/columns it is given;
// src/engine/wasm/gemm.ts copies operands into the shared memory and cuts C into pieces for the threads.
//
// Pointers are byte offsets into the (imported, shared) memory; leading dimensions are in floats.
// Built twice by scripts/build-wasm.mjs: with relaxed SIMD (f32x4.relaxed_madd, a fused multiply-add
// on CPUs with FMA) and without (mul + add), because Node 20 validates relaxed SIMD only behind a flag.
//
// Two register-blocked tiles, both without packing (the operands were just copied; packing them again
// would cost another pass over B for every call, which the decode shapes cannot afford):
//  - outer products (op(B) = B, row-major [k,n]): a 4×8 tile of C, one B row slice of 8 and four
//    broadcast A values per step of k (NN: A rows; TN: A's k-th row is contiguous over i);
//  - dot products (op(B) = Bᵀ, B [n,k]): a 4×2 tile of C, four A rows against two B rows, 4 lanes of k
//    at a time, reduced across lanes at the end (NT, the x·Wᵀ of every linear layer).
// The rows past a multiple of 4 (m = 1 in decode) take one-row tiles (16 columns; 8 B rows).
// Blocking over k keeps the A rows of a tile in L1 and the B block in L2 across the tiles that reuse it.
// The outer-product tiles read up to 15 floats past the last column of a B row: callers leave 64 bytes
// of slack after every operand (the columns read are computed and discarded, never stored).

const KC: i32 = 256; // k per block: a 4-row A strip is 4 KB, a B slice of the outer tile 8 KB
const NC_DOT: i32 = 64; // B rows per block of the dot kernel (64 × 256 floats = 64 KB, in L2)
const NC_OUTER: i32 = 512; // B columns per block of the outer kernel (256 × 512 floats = 512 KB)

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Writes alpha·acc + beta·C to the first `cols` (≤ 8) floats of a C row (beta = 0: C is not read). */
@inline function storeRow8(c: usize, acc0: v128, acc1: v128, alpha: f32, beta: f32, cols: i32): void {
  const va = f32x4.splat(alpha);
  let r0 = f32x4.mul(acc0, va);
  let r1 = f32x4.mul(acc1, va);
  if (cols == 8) {
    if (beta != 0) {
      const vb = f32x4.splat(beta);
      r0 = madd(v128.load(c), vb, r0);
      r1 = madd(v128.load(c, 16), vb, r1);
    }
    v128.store(c, r0);
    v128.store(c, r1, 16);
    return;
  }
  for (let j = 0; j < cols; j++) {
    const x = laneOf(j < 4 ? r0 : r1, j & 3);
    const p = c + (<usize>j << 2);
    store<f32>(p, beta != 0 ? x + beta * load<f32>(p) : x);
  }
}

@inline function laneOf(v: v128, lane: i32): f32 {
  if (lane == 0) return f32x4.extract_lane(v, 0);
  if (lane == 1) return f32x4.extract_lane(v, 1);
  if (lane == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}

/**
 * One 4×8 tile of C from `k` outer products. a0..a3: the four A element pointers for p = 0, advanced
 * by `sap` bytes per step of k; b: B[p0, j0], advanced by ldb bytes; `cols` (≤ 8) of the 8 are stored.
 */
@inline function tileOuter(k: i32, a0: usize, a1: usize, a2: usize, a3: usize, sap: usize, b: usize, ldb: usize, c: usize, ldc: usize, cols: i32, alpha: f32, beta: f32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < k; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a0);
    c00 = madd(av, b0, c00);
    c01 = madd(av, b1, c01);
    av = v128.load32_splat(a1);
    c10 = madd(av, b0, c10);
    c11 = madd(av, b1, c11);
    av = v128.load32_splat(a2);
    c20 = madd(av, b0, c20);
    c21 = madd(av, b1, c21);
    av = v128.load32_splat(a3);
    c30 = madd(av, b0, c30);
    c31 = madd(av, b1, c31);
    a0 += sap;
    a1 += sap;
    a2 += sap;
    a3 += sap;
    b += ldb;
  }
  storeRow8(c, c00, c01, alpha, beta, cols);
  storeRow8(c + ldc, c10, c11, alpha, beta, cols);
  storeRow8(c + 2 * ldc, c20, c21, alpha, beta, cols);
  storeRow8(c + 3 * ldc, c30, c31, alpha, beta, cols);
}

/** Writes alpha·acc + beta·C to the first `cols` (≤ 4) floats of C. */
@inline function storeVec(c: usize, acc: v128, alpha: f32, beta: f32, cols: i32): void {
  let r = f32x4.mul(acc, f32x4.splat(alpha));
  if (cols >= 4) {
    if (beta != 0) r = madd(v128.load(c), f32x4.splat(beta), r);
    v128.store(c, r);
    return;
  }
  for (let j = 0; j < cols; j++) {
    const p = c + (<usize>j << 2);
    const x = laneOf(r, j);
    store<f32>(p, beta != 0 ? x + beta * load<f32>(p) : x);
  }
}

/** One row of C, 16 columns (the rows of m past a multiple of 4: m = 1 in decode), over k. */
@inline function tileOuterRow(k: i32, a: usize, sap: usize, b: usize, ldb: usize, c: usize, cols: i32, alpha: f32, beta: f32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  for (let p = 0; p < k; p++) {
    const av = v128.load32_splat(a);
    c0 = madd(av, v128.load(b), c0);
    c1 = madd(av, v128.load(b, 16), c1);
    c2 = madd(av, v128.load(b, 32), c2);
    c3 = madd(av, v128.load(b, 48), c3);
    a += sap;
    b += ldb;
  }
  storeVec(c, c0, alpha, beta, cols);
  if (cols > 4) storeVec(c + 16, c1, alpha, beta, cols - 4);
  if (cols > 8) storeVec(c + 32, c2, alpha, beta, cols - 8);
  if (cols > 12) storeVec(c + 48, c3, alpha, beta, cols - 12);
}

/**
 * op(B) = B ([k,n], ldb): C = alpha·op(A)·B + beta·C where op(A)[i,p] sits at a + 4·(i·sai + p·sap)
 * (NN: sai = lda, sap = 1; TN: sai = 1, sap = lda).
 */
export function gemmOuter(m: i32, n: i32, k: i32, alpha: f32, a: usize, sai: i32, sap: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32): void {
  const sapB = <usize>sap << 2;
  const ldbB = <usize>ldb << 2;
  const ldcB = <usize>ldc << 2;
  for (let jc = 0; jc < n; jc += NC_OUTER) {
    const nc = min(NC_OUTER, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const bk = pc == 0 ? beta : 1;
      const m4 = m & ~3;
      for (let i = m4; i < m; i++) {
        const ai = a + ((<usize>i * sai + <usize>pc * sap) << 2);
        for (let j = 0; j < nc; j += 16) {
          const jj = jc + j;
          tileOuterRow(kc, ai, sapB, b + <usize>pc * ldbB + (<usize>jj << 2), ldbB, c + <usize>i * ldcB + (<usize>jj << 2), min(16, nc - j), alpha, bk);
        }
      }
      for (let i = 0; i < m4; i += 4) {
        const a0 = a + ((<usize>i * sai + <usize>pc * sap) << 2);
        const a1 = a0 + (<usize>sai << 2);
        const a2 = a1 + (<usize>sai << 2);
        const a3 = a2 + (<usize>sai << 2);
        for (let j = 0; j < nc; j += 8) {
          const jj = jc + j;
          tileOuter(kc, a0, a1, a2, a3, sapB, b + <usize>pc * ldbB + (<usize>jj << 2), ldbB, c + <usize>i * ldcB + (<usize>jj << 2), ldcB, min(8, nc - j), alpha, bk);
        }
      }
    }
  }
}

@inline function storeDot(c: usize, s: f32, alpha: f32, beta: f32): void {
  store<f32>(c, beta != 0 ? alpha * s + beta * load<f32>(c) : alpha * s);
}

/**
 * One tile of 4 A rows × 2 B rows over k floats (kv full vectors, then `mask` picks the remaining
 * lanes of the last one). With one B row left (cols = 1) it is read twice and stored once.
 */
@inline function tileDot(kv: i32, tail: bool, mask: v128, a0: usize, a1: usize, a2: usize, a3: usize, b0: usize, b1: usize, c: usize, ldc: usize, cols: i32, alpha: f32, beta: f32): void {
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s30 = f32x4.splat(0), s31 = f32x4.splat(0);
  let o: usize = 0;
  for (let v = 0; v < kv; v++) {
    const x0 = v128.load(b0 + o);
    const x1 = v128.load(b1 + o);
    let av = v128.load(a0 + o);
    s00 = madd(av, x0, s00);
    s01 = madd(av, x1, s01);
    av = v128.load(a1 + o);
    s10 = madd(av, x0, s10);
    s11 = madd(av, x1, s11);
    av = v128.load(a2 + o);
    s20 = madd(av, x0, s20);
    s21 = madd(av, x1, s21);
    av = v128.load(a3 + o);
    s30 = madd(av, x0, s30);
    s31 = madd(av, x1, s31);
    o += 16;
  }
  if (tail) {
    // the lanes past k are zeroed in B (bitwise, so whatever bits sit there, NaN included, become 0)
    const x0 = v128.and(v128.load(b0 + o), mask);
    const x1 = v128.and(v128.load(b1 + o), mask);
    let av = v128.and(v128.load(a0 + o), mask);
    s00 = madd(av, x0, s00);
    s01 = madd(av, x1, s01);
    av = v128.and(v128.load(a1 + o), mask);
    s10 = madd(av, x0, s10);
    s11 = madd(av, x1, s11);
    av = v128.and(v128.load(a2 + o), mask);
    s20 = madd(av, x0, s20);
    s21 = madd(av, x1, s21);
    av = v128.and(v128.load(a3 + o), mask);
    s30 = madd(av, x0, s30);
    s31 = madd(av, x1, s31);
  }
  storeDot(c, hsum(s00), alpha, beta);
  storeDot(c + ldc, hsum(s10), alpha, beta);
  storeDot(c + 2 * ldc, hsum(s20), alpha, beta);
  storeDot(c + 3 * ldc, hsum(s30), alpha, beta);
  if (cols > 1) {
    storeDot(c + 4, hsum(s01), alpha, beta);
    storeDot(c + ldc + 4, hsum(s11), alpha, beta);
    storeDot(c + 2 * ldc + 4, hsum(s21), alpha, beta);
    storeDot(c + 3 * ldc + 4, hsum(s31), alpha, beta);
  }
}

/** One A row against up to 8 B rows (rows of m past a multiple of 4: m = 1 in decode and attention). */
@inline function tileDotRow(kv: i32, tail: bool, mask: v128, a: usize, b: usize, ldb: usize, c: usize, cols: i32, alpha: f32, beta: f32): void {
  const b0 = b;
  const b1 = cols > 1 ? b0 + ldb : b0;
  const b2 = cols > 2 ? b1 + ldb : b1;
  const b3 = cols > 3 ? b2 + ldb : b2;
  const b4 = cols > 4 ? b3 + ldb : b3;
  const b5 = cols > 5 ? b4 + ldb : b4;
  const b6 = cols > 6 ? b5 + ldb : b5;
  const b7 = cols > 7 ? b6 + ldb : b6;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let s4 = f32x4.splat(0), s5 = f32x4.splat(0), s6 = f32x4.splat(0), s7 = f32x4.splat(0);
  let o: usize = 0;
  for (let v = 0; v < kv; v++) {
    const av = v128.load(a + o);
    s0 = madd(av, v128.load(b0 + o), s0);
    s1 = madd(av, v128.load(b1 + o), s1);
    s2 = madd(av, v128.load(b2 + o), s2);
    s3 = madd(av, v128.load(b3 + o), s3);
    s4 = madd(av, v128.load(b4 + o), s4);
    s5 = madd(av, v128.load(b5 + o), s5);
    s6 = madd(av, v128.load(b6 + o), s6);
    s7 = madd(av, v128.load(b7 + o), s7);
    o += 16;
  }
  if (tail) {
    const av = v128.and(v128.load(a + o), mask);
    s0 = madd(av, v128.and(v128.load(b0 + o), mask), s0);
    s1 = madd(av, v128.and(v128.load(b1 + o), mask), s1);
    s2 = madd(av, v128.and(v128.load(b2 + o), mask), s2);
    s3 = madd(av, v128.and(v128.load(b3 + o), mask), s3);
    s4 = madd(av, v128.and(v128.load(b4 + o), mask), s4);
    s5 = madd(av, v128.and(v128.load(b5 + o), mask), s5);
    s6 = madd(av, v128.and(v128.load(b6 + o), mask), s6);
    s7 = madd(av, v128.and(v128.load(b7 + o), mask), s7);
  }
  storeDot(c, hsum(s0), alpha, beta);
  if (cols > 1) storeDot(c + 4, hsum(s1), alpha, beta);
  if (cols > 2) storeDot(c + 8, hsum(s2), alpha, beta);
  if (cols > 3) storeDot(c + 12, hsum(s3), alpha, beta);
  if (cols > 4) storeDot(c + 16, hsum(s4), alpha, beta);
  if (cols > 5) storeDot(c + 20, hsum(s5), alpha, beta);
  if (cols > 6) storeDot(c + 24, hsum(s6), alpha, beta);
  if (cols > 7) storeDot(c + 28, hsum(s7), alpha, beta);
}

/**
 * op(B) = Bᵀ with B [n,k] (ldb): C[i,j] = alpha·Σ_p op(A)[i,p]·B[j,p] + beta·C[i,j], op(A) = A [m,k]
 * (lda). Both operands are read along k, so the tail of k is masked rather than over-read.
 */
export function gemmDot(m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32): void {
  const ldaB = <usize>lda << 2;
  const ldbB = <usize>ldb << 2;
  const ldcB = <usize>ldc << 2;
  for (let jc = 0; jc < n; jc += NC_DOT) {
    const nc = min(NC_DOT, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const kv = kc >> 2;
      const rem = kc & 3;
      const mask = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(rem));
      const bk = pc == 0 ? beta : 1;
      const pB = <usize>pc << 2;
      const m4 = m & ~3;
      for (let i = m4; i < m; i++)
        for (let j = 0; j < nc; j += 8) {
          const jj = jc + j;
          tileDotRow(kv, rem != 0, mask, a + <usize>i * ldaB + pB, b + <usize>jj * ldbB + pB, ldbB, c + <usize>i * ldcB + (<usize>jj << 2), min(8, nc - j), alpha, bk);
        }
      for (let i = 0; i < m4; i += 4) {
        const a0 = a + <usize>i * ldaB + pB;
        const a1 = a0 + ldaB;
        const a2 = a1 + ldaB;
        const a3 = a2 + ldaB;
        for (let j = 0; j < nc; j += 2) {
          const jj = jc + j;
          const cols = min(2, nc - j);
          const b0 = b + <usize>jj * ldbB + pB;
          const b1 = cols > 1 ? b0 + ldbB : b0;
          tileDot(kv, rem != 0, mask, a0, a1, a2, a3, b0, b1, c + <usize>i * ldcB + (<usize>jj << 2), ldcB, cols, alpha, bk);
        }
      }
    }
  }
}

/** dst[c,r] = src[r,c] for a rows×cols block (ld in floats): TT products become TN. */
export function transpose(rows: i32, cols: i32, src: usize, lds: i32, dst: usize, ldd: i32): void {
  for (let r = 0; r < rows; r++) {
    const s = src + ((<usize>r * lds) << 2);
    for (let c = 0; c < cols; c++) store<f32>(dst + ((<usize>c * ldd + r) << 2), load<f32>(s + (<usize>c << 2)));
  }
}

/** The single-thread entry: any op(A), op(B) except both transposed (the caller transposes B first). */
export function gemm(transA: i32, transB: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0) {
    for (let i = 0; i < m; i++) {
      const row = c + ((<usize>i * ldc) << 2);
      for (let j = 0; j < n; j++) store<f32>(row + (<usize>j << 2), beta == 0 ? 0 : beta * load<f32>(row + (<usize>j << 2)));
    }
    return;
  }
  if (transB) gemmDot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else if (transA) gemmOuter(m, n, k, alpha, a, 1, lda, b, ldb, beta, c, ldc);
  else gemmOuter(m, n, k, alpha, a, lda, 1, b, ldb, beta, c, ldc);
}
