// Causal grouped-query attention over packed rows, with shared prefixes (the Prefix Grouper layout,
// arXiv 2506.05433): a segment of query rows attends to every row of its group's prefix and causally to
// its own keys. One prompt and its K completions are one group — the prompt's keys are read (and, in the
// backward, receive gradient) once for all K. A plain causal sequence is a segment without a prefix; a
// decode step is a one-row segment whose own keys are its cache.
//
// FlashAttention's idea on a CPU: queries go in blocks, scores are formed block by block with GEMMs and
// never kept; the forward keeps only each row's log-sum-exp, and the backward recomputes the
// probabilities from it. q/out/dq are [rows, H·d]; keys/values are views of rows of G·d floats; head h
// reads key/value group ⌊h / (H/G)⌋. Scores are scaled by 1/√d.
import type { Arena } from '../arena.js';
import { sgemm } from '../blas.js';
import { fastExp } from '../math.js';

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

/** Query rows per block: bounds the score buffers to BLOCK × keys floats. */
const BLOCK = 64;

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

/** out = softmax(q·kᵀ/√d, causal, with prefixes)·v; lse [rows, H] receives each row's log-sum-exp. */
export function attentionForward(out: Float32Array, lse: Float32Array, q: Float32Array, groups: AttnGroup[], s: AttnShape, arena: Arena): void {
  const { H, G, d } = s;
  const Hd = H * d;
  const Gd = G * d;
  const rep = H / G;
  const scale = 1 / Math.sqrt(d);
  for (const group of groups) {
    const np = group.np;
    const pre = group.prefix;
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / rep);
      for (const { b0, b1, chunks } of blocks(group)) {
        const nb = b1 - b0;
        const spre = np > 0 ? arena.take('attn.spre', nb * np) : null;
        if (spre) sgemm(false, true, nb, np, d, scale, q.subarray(b0 * Hd + h * d), pre!.k.subarray(g * d), 0, spre, { lda: Hd, ldb: Gd, ldc: np });
        for (const ch of chunks) {
          const m = ch.c1 - ch.c0;
          const kmax = ch.kmax;
          const sown = arena.take('attn.sown', m * kmax);
          sgemm(false, true, m, kmax, d, scale, q.subarray(ch.c0 * Hd + h * d), ch.seg.keys.k.subarray(g * d), 0, sown, { lda: Hd, ldb: Gd, ldc: kmax });
          for (let i = ch.c0; i < ch.c1; i++) {
            const vis = ch.off + (i - ch.seg.q0) + 1;
            const orow = (i - ch.c0) * kmax;
            const prow = (i - b0) * np;
            let max = -Infinity;
            for (let j = 0; j < vis; j++) if (sown[orow + j]! > max) max = sown[orow + j]!;
            if (spre) for (let j = 0; j < np; j++) if (spre[prow + j]! > max) max = spre[prow + j]!;
            let sum = 0;
            for (let j = 0; j < vis; j++) {
              const e = fastExp(sown[orow + j]! - max);
              sown[orow + j] = e;
              sum += e;
            }
            if (spre)
              for (let j = 0; j < np; j++) {
                const e = fastExp(spre[prow + j]! - max);
                spre[prow + j] = e;
                sum += e;
              }
            const inv = 1 / sum;
            for (let j = 0; j < vis; j++) sown[orow + j]! *= inv;
            for (let j = vis; j < kmax; j++) sown[orow + j] = 0;
            if (spre) for (let j = 0; j < np; j++) spre[prow + j]! *= inv;
            lse[i * H + h] = max + Math.log(sum);
          }
          sgemm(false, false, m, d, kmax, 1, sown, ch.seg.keys.v.subarray(g * d), 0, out.subarray(ch.c0 * Hd + h * d), { lda: kmax, ldb: Gd, ldc: Hd });
        }
        if (spre) sgemm(false, false, nb, d, np, 1, spre, pre!.v.subarray(g * d), 1, out.subarray(b0 * Hd + h * d), { lda: np, ldb: Gd, ldc: Hd });
      }
    }
  }
}

/**
 * Gradients of the attention: dq is overwritten for the groups' query rows; dk/dv of the own keys and of
 * the prefixes accumulate (the caller zeroes them once). Probabilities are recomputed from `lse`.
 */
export function attentionBackward(dq: Float32Array, dout: Float32Array, q: Float32Array, out: Float32Array, lse: Float32Array, groups: AttnGroup[], s: AttnShape, arena: Arena): void {
  const { H, G, d } = s;
  const Hd = H * d;
  const Gd = G * d;
  const rep = H / G;
  const scale = 1 / Math.sqrt(d);
  for (const group of groups) {
    const np = group.np;
    const pre = group.prefix;
    const first = group.segs[0]!;
    const last = group.segs[group.segs.length - 1]!;
    const r0 = first.q0;
    const rN = last.q0 + last.nq;
    // D_i = rowsum(dout ⊙ out) per row and head: the softmax backward's correction term
    const D = arena.take('attn.D', (rN - r0) * H);
    for (let i = r0; i < rN; i++)
      for (let h = 0; h < H; h++) {
        let acc = 0;
        const o = i * Hd + h * d;
        for (let t = 0; t < d; t++) acc += dout[o + t]! * out[o + t]!;
        D[(i - r0) * H + h] = acc;
      }
    dq.fill(0, r0 * Hd, rN * Hd);
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / rep);
      for (const { b0, b1, chunks } of blocks(group)) {
        const nb = b1 - b0;
        let ppre: Float32Array | null = null;
        let dspre: Float32Array | null = null;
        if (np > 0) {
          ppre = arena.take('attn.ppre', nb * np);
          dspre = arena.take('attn.dspre', nb * np);
          sgemm(false, true, nb, np, d, scale, q.subarray(b0 * Hd + h * d), pre!.k.subarray(g * d), 0, ppre, { lda: Hd, ldb: Gd, ldc: np });
          sgemm(false, true, nb, np, d, 1, dout.subarray(b0 * Hd + h * d), pre!.v.subarray(g * d), 0, dspre, { lda: Hd, ldb: Gd, ldc: np });
          for (let i = b0; i < b1; i++) {
            const l = lse[i * H + h]!;
            const Di = D[(i - r0) * H + h]!;
            const row = (i - b0) * np;
            for (let j = 0; j < np; j++) {
              const p = fastExp(ppre[row + j]! - l);
              ppre[row + j] = p;
              dspre[row + j] = p * (dspre[row + j]! - Di);
            }
          }
        }
        for (const ch of chunks) {
          const m = ch.c1 - ch.c0;
          const kmax = ch.kmax;
          const keys = ch.seg.keys;
          const pown = arena.take('attn.pown', m * kmax);
          const dsown = arena.take('attn.dsown', m * kmax);
          const qc = q.subarray(ch.c0 * Hd + h * d);
          const doc = dout.subarray(ch.c0 * Hd + h * d);
          sgemm(false, true, m, kmax, d, scale, qc, keys.k.subarray(g * d), 0, pown, { lda: Hd, ldb: Gd, ldc: kmax });
          sgemm(false, true, m, kmax, d, 1, doc, keys.v.subarray(g * d), 0, dsown, { lda: Hd, ldb: Gd, ldc: kmax });
          for (let i = ch.c0; i < ch.c1; i++) {
            const vis = ch.off + (i - ch.seg.q0) + 1;
            const l = lse[i * H + h]!;
            const Di = D[(i - r0) * H + h]!;
            const row = (i - ch.c0) * kmax;
            for (let j = 0; j < vis; j++) {
              const p = fastExp(pown[row + j]! - l);
              pown[row + j] = p;
              dsown[row + j] = p * (dsown[row + j]! - Di);
            }
            for (let j = vis; j < kmax; j++) {
              pown[row + j] = 0;
              dsown[row + j] = 0;
            }
          }
          // out = P·V: dV += Pᵀ·dout; S = q·kᵀ/√d: dK += dSᵀ·q/√d, dq += dS·K/√d
          sgemm(true, false, kmax, d, m, 1, pown, doc, 1, keys.dv!.subarray(g * d), { lda: kmax, ldb: Hd, ldc: Gd });
          sgemm(true, false, kmax, d, m, scale, dsown, qc, 1, keys.dk!.subarray(g * d), { lda: kmax, ldb: Hd, ldc: Gd });
          sgemm(false, false, m, d, kmax, scale, dsown, keys.k.subarray(g * d), 1, dq.subarray(ch.c0 * Hd + h * d), { lda: kmax, ldb: Gd, ldc: Hd });
        }
        if (ppre && dspre) {
          const qb = q.subarray(b0 * Hd + h * d);
          sgemm(true, false, np, d, nb, 1, ppre, dout.subarray(b0 * Hd + h * d), 1, pre!.dv!.subarray(g * d), { lda: np, ldb: Hd, ldc: Gd });
          sgemm(true, false, np, d, nb, scale, dspre, qb, 1, pre!.dk!.subarray(g * d), { lda: np, ldb: Hd, ldc: Gd });
          sgemm(false, false, nb, d, np, scale, dspre, pre!.k.subarray(g * d), 1, dq.subarray(b0 * Hd + h * d), { lda: np, ldb: Gd, ldc: Hd });
        }
      }
    }
  }
}
