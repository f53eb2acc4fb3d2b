// Causal grouped-query attention over packed rows, with shared prefixes (the Prefix Grouper layout,
// arXiv 2506.05433): a segment of query rows attends to every row of its group's prefix and causally to
// its own keys. One prompt and its K completions are one group — the prompt's keys are read (and, in the
// backward, receive gradient) once for all K. A plain causal sequence is a segment without a prefix; a
// decode step is a one-row segment whose own keys are its cache.
//
// FlashAttention's idea on a CPU: queries go in blocks, scores are formed block by block with GEMMs and
// never kept; the forward keeps only each row's log-sum-exp, and the backward recomputes the
// probabilities from it. The H/G query heads that share a key/value head are stacked into one matrix
// (rows × heads), so each key block is multiplied once per KV head, not once per query head.
// q/out/dq are [rows, H·d]; keys/values are views of rows of G·d floats; scores are scaled by 1/√d.
// The products whose result is d = 64 columns wide (P·V, dS·K, Pᵀ·dO, dSᵀ·Q) are computed transposed,
// d rows by many columns: OpenBLAS runs that shape at ~180 GFLOP/s against ~68 for the narrow one, and
// the transposed result is cheap to turn around (d floats per row against d·keys multiply-adds); the
// keys' gradients are accumulated transposed over all blocks and turned around once. Few rows (decode)
// keep P·V as it is, the faster shape there. The softmax passes are the row kernels' (../wasm/rows.ts),
// on score blocks that live in their memory.
import type { Arena } from '../arena.js';
import { sgemm } from '../blas.js';
import { rowKernels } from '../wasm/rows.js';

/** Rows of G·d floats; row 0 is the first key. Gradients accumulate into dk/dv in the backward. */
export interface KvView {
  k: Float32Array;
  v: Float32Array;
  dk?: Float32Array;
  dv?: Float32Array;
}

export interface AttnSegment {
  /** First query row in q/out. */
  q0: number;
  nq: number;
  /** The segment's own keys; query i (0-based) sees own keys [0, nk − nq + i]. */
  keys: KvView;
  nk: number;
}

/** Segments that share a prefix; their query rows are contiguous and ascending. */
export interface AttnGroup {
  prefix: KvView | null;
  /** Prefix rows (all visible to every query of the group). */
  np: number;
  segs: AttnSegment[];
}

export interface AttnShape {
  H: number;
  G: number;
  d: number;
}

/** Query rows per block: bounds the score buffers to BLOCK × (H/G) × keys floats. */
const BLOCK = 128;

interface Chunk {
  seg: AttnSegment;
  /** Query rows [c0, c1) of the block that belong to the segment. */
  c0: number;
  c1: number;
  /** Own keys before the segment's first query. */
  off: number;
  /** Own keys visible to the chunk's last row (the chunk's score width). */
  kmax: number;
}

function* blocks(group: AttnGroup): Generator<{ b0: number; b1: number; chunks: Chunk[] }> {
  const first = group.segs[0]!;
  const last = group.segs[group.segs.length - 1]!;
  for (let b0 = first.q0; b0 < last.q0 + last.nq; b0 += BLOCK) {
    const b1 = Math.min(b0 + BLOCK, last.q0 + last.nq);
    const chunks: Chunk[] = [];
    for (const seg of group.segs) {
      const c0 = Math.max(seg.q0, b0);
      const c1 = Math.min(seg.q0 + seg.nq, b1);
      if (c0 >= c1) continue;
      const off = seg.nk - seg.nq;
      chunks.push({ seg, c0, c1, off, kmax: off + (c1 - seg.q0) });
    }
    yield { b0, b1, chunks };
  }
}

/** The rows [b0, b1) of the heads of KV head g, stacked: row (r, j) of dst is head g·rep + j of row r. */
function gatherHeads(dst: Float32Array, src: Float32Array, b0: number, b1: number, g: number, rep: number, Hd: number, d: number): void {
  const w = rep * d;
  for (let r = b0; r < b1; r++) dst.set(src.subarray(r * Hd + g * w, r * Hd + g * w + w), (r - b0) * w);
}

/**
 * A block made only of one-row segments (decode: one new token per sequence) whose keys are rows of one
 * buffer (the decode cache): the span of rows that covers them all and each segment's first row in it —
 * one product over the span replaces two tiny ones per segment, whose calls cost more than their
 * arithmetic. Null when it would waste more (the span far wider than the keys used) or does not apply.
 */
function oneRowWindows(chunks: Chunk[], nb: number, d: number, Gd: number): { k: Float32Array; v: Float32Array; span: number; lo: number[] } | null {
  if (chunks.length < 2 || chunks.some((ch) => ch.seg.nq !== 1)) return null;
  const first = chunks[0]!.seg.keys;
  let base = chunks[0]!;
  for (const ch of chunks) {
    const k = ch.seg.keys;
    if (k.k.buffer !== first.k.buffer || k.v.buffer !== first.v.buffer || k.k.byteOffset - first.k.byteOffset !== k.v.byteOffset - first.v.byteOffset) return null;
    if (k.k.byteOffset < base.seg.keys.k.byteOffset) base = ch;
  }
  const at = base.seg.keys.k.byteOffset;
  const lo = chunks.map((ch) => (ch.seg.keys.k.byteOffset - at) / 4 / Gd);
  if (lo.some((r) => !Number.isInteger(r))) return null;
  const span = Math.max(...chunks.map((ch, c) => lo[c]! + ch.seg.nk));
  // ~16 µs of call overhead per segment saved against the wasted multiply-adds (~100 GFLOP/s)
  if (nb * span * d > chunks.length * 400_000) return null;
  return { k: base.seg.keys.k, v: base.seg.keys.v, span, lo };
}

/** Below this many stacked rows P·V is computed as it is (decode); from it on, transposed. */
const STRAIGHT_ROWS = 96;

/**
 * out rows [b0, b1), heads of KV head g, from x holding stacked row i = (r − b0)·rep + j, element t at
 * x[i·si + t·st] (as it is: si = d, st = 1; transposed: si = 1, st = nb), each row scaled when given.
 */
function scatterHeads(out: Float32Array, x: Float32Array, si: number, st: number, scale: Float32Array | null, b0: number, b1: number, g: number, rep: number, Hd: number, d: number): void {
  const nb = (b1 - b0) * rep;
  for (let i = 0; i < nb; i++) {
    const sc = scale ? scale[i]! : 1;
    const o = (b0 + Math.floor(i / rep)) * Hd + (g * rep + (i % rep)) * d;
    for (let t = 0; t < d; t++) out[o + t] = x[i * si + t * st]! * sc;
  }
}

/** dst rows [0, n) (leading dimension ld, d columns) += the first n columns of xT [d, ldx]ᵀ. */
function addTransposed(dst: Float32Array, ld: number, xT: Float32Array, ldx: number, n: number, d: number): void {
  for (let j = 0; j < n; j++) {
    const o = j * ld;
    for (let t = 0; t < d; t++) dst[o + t]! += xT[t * ldx + j]!;
  }
}

/**
 * Where a forward may leave its probabilities for the backward that follows (a layer recomputed for its
 * backward: the scores and their exponentials are then not formed twice). Blocks are written and read in
 * the same order; `used` is the cursor.
 */
export interface ProbTape {
  /** Each row's exponentials exp(s − max), not normalised; a view from the row kernels' `take`. */
  buf: Float32Array;
  used: number;
  /** Per row and head [rows, H]: 1 / Σ exp(s − max), the normaliser. */
  inv: Float32Array;
}

/** Floats a ProbTape needs for these groups: every block's prefix and own probabilities. */
export function probTapeSize(groups: AttnGroup[], s: AttnShape): number {
  const rep = s.H / s.G;
  let n = 0;
  for (const group of groups)
    for (const { b0, b1, chunks } of blocks(group)) {
      n += (b1 - b0) * rep * group.np;
      for (const ch of chunks) n += (ch.c1 - ch.c0) * rep * ch.kmax;
    }
  return n * s.G;
}

/**
 * out = softmax(q·kᵀ/√d, causal, with prefixes)·v; lse [rows, H] receives each row's log-sum-exp; with
 * `tape`, the probabilities are kept for the backward.
 */
export function attentionForward(out: Float32Array, lse: Float32Array, q: Float32Array, groups: AttnGroup[], s: AttnShape, arena: Arena, tape?: ProbTape): void {
  const { H, G, d } = s;
  const Hd = H * d;
  const Gd = G * d;
  const rep = H / G;
  const scale = 1 / Math.sqrt(d);
  const K = rowKernels();
  for (const group of groups) {
    const np = group.np;
    const pre = group.prefix;
    for (let g = 0; g < G; g++) {
      for (const { b0, b1, chunks } of blocks(group)) {
        const nb = (b1 - b0) * rep;
        const qg = arena.take('attn.qg', nb * d);
        // P·V as nb × d (few rows: decode) or transposed, d × nb (many rows: the faster shape then)
        const straight = nb < STRAIGHT_ROWS;
        const o = arena.take('attn.o', d * nb);
        const pv = (m: number, kmax: number, p: Float32Array, v: Float32Array, beta: number, at: number) =>
          straight ? sgemm(false, false, m, d, kmax, 1, p, v, beta, o.subarray(at * d), { ldb: Gd }) : sgemm(true, true, d, m, kmax, 1, v, p, beta, o.subarray(at), { lda: Gd, ldb: kmax, ldc: nb });
        const inv = arena.take('attn.inv', nb);
        const rowMax = K.take('attn.max', nb);
        const rowSum = K.take('attn.sum', nb);
        gatherHeads(qg, q, b0, b1, g, rep, Hd, d);
        // the tape (when kept) holds the block's prefix numerators first, then each chunk's
        const spre = np > 0 ? (tape ? tape.buf.subarray(tape.used, (tape.used += nb * np)) : K.take('attn.spre', nb * np)) : null;
        if (spre) sgemm(false, true, nb, np, d, scale, qg, pre!.k.subarray(g * d), 0, spre, { ldb: Gd });
        const win = tape ? null : oneRowWindows(chunks, nb, d, Gd);
        if (win) {
          // one product over the keys of every segment of the block, each row softmaxed over its own window
          const sown = K.take('attn.sown', nb * win.span);
          sgemm(false, true, nb, win.span, d, scale, qg, win.k.subarray(g * d), 0, sown, { ldb: Gd });
          const lo = K.take('attn.lo', nb);
          const vis = K.take('attn.vis', nb);
          chunks.forEach((ch, c) => {
            lo.fill(win.lo[c]!, (ch.c0 - b0) * rep, (ch.c1 - b0) * rep);
            vis.fill(ch.seg.nk, (ch.c0 - b0) * rep, (ch.c1 - b0) * rep);
          });
          K.softmaxRowsWindowed(sown, win.span, nb, lo, vis, spre, np, rowMax, rowSum);
          pv(nb, win.span, sown, win.v.subarray(g * d), 0, 0);
        } else {
          for (const ch of chunks) {
            const m = (ch.c1 - ch.c0) * rep;
            const kmax = ch.kmax;
            const at = (ch.c0 - b0) * rep;
            const sown = tape ? tape.buf.subarray(tape.used, (tape.used += m * kmax)) : K.take('attn.sown', m * kmax);
            sgemm(false, true, m, kmax, d, scale, qg.subarray(at * d), ch.seg.keys.k.subarray(g * d), 0, sown, { ldb: Gd });
            // numerators e^(s − max), not normalised: the output rows are scaled once by 1/Σ after P·V
            K.softmaxRows(sown, kmax, m, ch.off + (ch.c0 - ch.seg.q0) + 1, rep, spre && spre.subarray(at * np, (at + m) * np), np, rowMax.subarray(at, at + m), rowSum.subarray(at, at + m));
            pv(m, kmax, sown, ch.seg.keys.v.subarray(g * d), 0, at);
          }
        }
        if (spre) pv(nb, np, spre, pre!.v.subarray(g * d), 1, 0);
        // every stacked row's max and Σ are in: its log-sum-exp, and 1/Σ for the output (and the tape)
        for (let i = 0; i < nb; i++) {
          const at = (b0 + Math.floor(i / rep)) * H + g * rep + (i % rep);
          inv[i] = 1 / rowSum[i]!;
          if (tape) tape.inv[at] = inv[i]!;
          lse[at] = rowMax[i]! + Math.log(rowSum[i]!);
        }
        scatterHeads(out, o, straight ? d : 1, straight ? 1 : nb, inv, b0, b1, g, rep, Hd, d);
      }
    }
  }
}

/**
 * Gradients of the attention: dq is overwritten for the groups' query rows; dk/dv of the own keys and of
 * the prefixes accumulate (the caller zeroes them once). Probabilities come from the forward's `tape`
 * (read from its start), or are recomputed from `lse`.
 */
export function attentionBackward(dq: Float32Array, dout: Float32Array, q: Float32Array, out: Float32Array, lse: Float32Array, groups: AttnGroup[], s: AttnShape, arena: Arena, tape?: ProbTape): void {
  const { H, G, d } = s;
  const Hd = H * d;
  const Gd = G * d;
  const rep = H / G;
  const scale = 1 / Math.sqrt(d);
  const K = rowKernels();
  for (const group of groups) {
    const np = group.np;
    const pre = group.prefix;
    // dKᵀ, dVᵀ [d, keys] of the prefix and of each segment's own keys, accumulated over the blocks and
    // turned around once at the end (a segment's keys receive gradient from every block after them)
    const segAt = new Map<AttnSegment, number>();
    let ownCols = 0;
    for (const seg of group.segs) segAt.set(seg, (ownCols += seg.nk) - seg.nk);
    const cols = np + ownCols;
    const dkT = arena.take('attn.dkT', d * cols);
    const dvT = arena.take('attn.dvT', d * cols);
    for (let g = 0; g < G; g++) {
      dkT.fill(0);
      dvT.fill(0);
      for (const { b0, b1, chunks } of blocks(group)) {
        const nb = (b1 - b0) * rep;
        const qg = arena.take('attn.qg', nb * d);
        const dog = arena.take('attn.dog', nb * d);
        const dqT = arena.take('attn.dqT', d * nb);
        const og = arena.take('attn.og', nb * d);
        gatherHeads(qg, q, b0, b1, g, rep, Hd, d);
        gatherHeads(dog, dout, b0, b1, g, rep, Hd, d);
        gatherHeads(og, out, b0, b1, g, rep, Hd, d);
        // per stacked row: D_i = rowsum(dout ⊙ out) (the softmax backward's correction term), the row's
        // log-sum-exp, and with a tape 1/Σ (the tape holds numerators)
        const D = K.take('attn.D', nb);
        const shift = K.take('attn.shift', nb);
        const norm = tape ? K.take('attn.norm', nb) : null;
        for (let i = 0; i < nb; i++) {
          let acc = 0;
          for (let t = 0; t < d; t++) acc += dog[i * d + t]! * og[i * d + t]!;
          D[i] = acc;
          const at = (b0 + Math.floor(i / rep)) * H + g * rep + (i % rep);
          shift[i] = lse[at]!;
          if (norm) norm[i] = tape!.inv[at]!;
        }
        let ppre: Float32Array | null = null;
        let dspre: Float32Array | null = null;
        if (np > 0) {
          dspre = K.take('attn.dspre', nb * np);
          ppre = tape ? tape.buf.subarray(tape.used, (tape.used += nb * np)) : K.take('attn.ppre', nb * np);
          sgemm(false, true, nb, np, d, 1, dog, pre!.v.subarray(g * d), 0, dspre, { ldb: Gd });
          if (!tape) sgemm(false, true, nb, np, d, scale, qg, pre!.k.subarray(g * d), 0, ppre, { ldb: Gd });
          K.softmaxGradRows(ppre, dspre, np, nb, np, 0, shift, norm, D);
        }
        for (const ch of chunks) {
          const m = (ch.c1 - ch.c0) * rep;
          const kmax = ch.kmax;
          const keys = ch.seg.keys;
          const at = (ch.c0 - b0) * rep;
          const qc = qg.subarray(at * d);
          const doc = dog.subarray(at * d);
          const pown = tape ? tape.buf.subarray(tape.used, (tape.used += m * kmax)) : K.take('attn.pown', m * kmax);
          const dsown = K.take('attn.dsown', m * kmax);
          if (!tape) sgemm(false, true, m, kmax, d, scale, qc, keys.k.subarray(g * d), 0, pown, { ldb: Gd });
          sgemm(false, true, m, kmax, d, 1, doc, keys.v.subarray(g * d), 0, dsown, { ldb: Gd });
          K.softmaxGradRows(pown, dsown, kmax, m, ch.off + (ch.c0 - ch.seg.q0) + 1, rep, shift.subarray(at, at + m), norm && norm.subarray(at, at + m), D.subarray(at, at + m));
          // out = P·V: dVᵀ += doutᵀ·P; S = q·kᵀ/√d: dKᵀ += qᵀ·dS/√d, dqᵀ = Kᵀ·dSᵀ/√d (all transposed)
          const own = np + segAt.get(ch.seg)!;
          sgemm(true, false, d, kmax, m, 1, doc, pown, 1, dvT.subarray(own), { lda: d, ldb: kmax, ldc: cols });
          sgemm(true, false, d, kmax, m, scale, qc, dsown, 1, dkT.subarray(own), { lda: d, ldb: kmax, ldc: cols });
          sgemm(true, true, d, m, kmax, scale, keys.k.subarray(g * d), dsown, 0, dqT.subarray(at), { lda: Gd, ldb: kmax, ldc: nb });
        }
        if (ppre && dspre) {
          sgemm(true, false, d, np, nb, 1, dog, ppre, 1, dvT, { lda: d, ldb: np, ldc: cols });
          sgemm(true, false, d, np, nb, scale, qg, dspre, 1, dkT, { lda: d, ldb: np, ldc: cols });
          sgemm(true, true, d, nb, np, scale, pre!.k.subarray(g * d), dspre, 1, dqT, { lda: Gd, ldb: np, ldc: nb });
        }
        scatterHeads(dq, dqT, 1, nb, null, b0, b1, g, rep, Hd, d);
      }
      if (np > 0) {
        addTransposed(pre!.dv!.subarray(g * d), Gd, dvT, cols, np, d);
        addTransposed(pre!.dk!.subarray(g * d), Gd, dkT, cols, np, d);
      }
      for (const seg of group.segs) {
        const own = np + segAt.get(seg)!;
        addTransposed(seg.keys.dv!.subarray(g * d), Gd, dvT.subarray(own), cols, seg.nk, d);
        addTransposed(seg.keys.dk!.subarray(g * d), Gd, dkT.subarray(own), cols, seg.nk, d);
      }
    }
  }
}
