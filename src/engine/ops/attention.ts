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

/** max(init, x[o..o+n)). */
function rowMax(x: Float32Array, o: number, n: number, init: number): number {
  let m = init;
  for (let j = o; j < o + n; j++) {
    const v = x[j]!;
    if (v > m) m = v;
  }
  return m;
}

/** x[j] = exp(x[j] − shift) on [o, o+n); returns their sum. */
function expInPlace(x: Float32Array, o: number, n: number, shift: number): number {
  let sum = 0;
  for (let j = o; j < o + n; j++) {
    const e = fastExp(x[j]! - shift);
    x[j] = e;
    sum += e;
  }
  return sum;
}

/** The rows [b0, b1) of the heads of KV head g, stacked: row (r, j) of dst is head g·rep + j of row r. */
function gatherHeads(dst: Float32Array, src: Float32Array, b0: number, b1: number, g: number, rep: number, Hd: number, d: number): void {
  const w = rep * d;
  for (let r = b0; r < b1; r++) dst.set(src.subarray(r * Hd + g * w, r * Hd + g * w + w), (r - b0) * w);
}

function scatterHeads(dst: Float32Array, src: Float32Array, b0: number, b1: number, g: number, rep: number, Hd: number, d: number): void {
  const w = rep * d;
  for (let r = b0; r < b1; r++) dst.set(src.subarray((r - b0) * w, (r - b0 + 1) * w), r * Hd + g * w);
}

/**
 * Where a forward may leave its probabilities for the backward that follows (a layer recomputed for its
 * backward: the scores and their exponentials are then not formed twice). Blocks are written and read in
 * the same order; `used` is the cursor.
 */
export interface ProbTape {
  /** Each row's exponentials exp(s − max), not normalised. */
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
  for (const group of groups) {
    const np = group.np;
    const pre = group.prefix;
    for (let g = 0; g < G; g++) {
      for (const { b0, b1, chunks } of blocks(group)) {
        const nb = (b1 - b0) * rep;
        const qg = arena.take('attn.qg', nb * d);
        const og = arena.take('attn.og', nb * d);
        const inv = arena.take('attn.inv', nb);
        gatherHeads(qg, q, b0, b1, g, rep, Hd, d);
        const spre = np > 0 ? (tape ? tape.buf.subarray(tape.used, (tape.used += nb * np)) : arena.take('attn.spre', nb * np)) : null;
        if (spre) sgemm(false, true, nb, np, d, scale, qg, pre!.k.subarray(g * d), 0, spre, { ldb: Gd });
        for (const ch of chunks) {
          const m = (ch.c1 - ch.c0) * rep;
          const kmax = ch.kmax;
          const qc = qg.subarray((ch.c0 - b0) * rep * d);
          const sown = tape ? tape.buf.subarray(tape.used, (tape.used += m * kmax)) : arena.take('attn.sown', m * kmax);
          sgemm(false, true, m, kmax, d, scale, qc, ch.seg.keys.k.subarray(g * d), 0, sown, { ldb: Gd });
          // exponentials, not normalised: the output rows are scaled once by 1/sum after P·V
          for (let i = 0; i < m; i++) {
            const r = ch.c0 + Math.floor(i / rep);
            const vis = ch.off + (r - ch.seg.q0) + 1;
            const orow = i * kmax;
            const prow = ((ch.c0 - b0) * rep + i) * np;
            let max = rowMax(sown, orow, vis, -Infinity);
            if (spre) max = rowMax(spre, prow, np, max);
            let sum = expInPlace(sown, orow, vis, max);
            if (spre) sum += expInPlace(spre, prow, np, max);
            sown.fill(0, orow + vis, orow + kmax);
            const h = g * rep + (i % rep);
            inv[(ch.c0 - b0) * rep + i] = 1 / sum;
            if (tape) tape.inv[r * H + h] = 1 / sum;
            lse[r * H + h] = max + Math.log(sum);
          }
          sgemm(false, false, m, d, kmax, 1, sown, ch.seg.keys.v.subarray(g * d), 0, og.subarray((ch.c0 - b0) * rep * d), { ldb: Gd });
        }
        if (spre) sgemm(false, false, nb, d, np, 1, spre, pre!.v.subarray(g * d), 1, og, { ldb: Gd });
        for (let i = 0; i < nb; i++) {
          const sc = inv[i]!;
          for (let t = i * d; t < (i + 1) * d; t++) og[t]! *= sc;
        }
        scatterHeads(out, og, b0, b1, g, rep, Hd, d);
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
  for (const group of groups) {
    const np = group.np;
    const pre = group.prefix;
    for (let g = 0; g < G; g++) {
      for (const { b0, b1, chunks } of blocks(group)) {
        const nb = (b1 - b0) * rep;
        const qg = arena.take('attn.qg', nb * d);
        const dog = arena.take('attn.dog', nb * d);
        const dqg = arena.take('attn.dqg', nb * d);
        const og = arena.take('attn.og', nb * d);
        gatherHeads(qg, q, b0, b1, g, rep, Hd, d);
        gatherHeads(dog, dout, b0, b1, g, rep, Hd, d);
        gatherHeads(og, out, b0, b1, g, rep, Hd, d);
        // D_i = rowsum(dout ⊙ out): the softmax backward's correction term, per stacked row
        const D = arena.take('attn.D', nb);
        for (let i = 0; i < nb; i++) {
          let acc = 0;
          for (let t = 0; t < d; t++) acc += dog[i * d + t]! * og[i * d + t]!;
          D[i] = acc;
        }
        const lseOf = (i: number) => lse[(b0 + Math.floor(i / rep)) * H + g * rep + (i % rep)]!;
        const invOf = (i: number) => tape!.inv[(b0 + Math.floor(i / rep)) * H + g * rep + (i % rep)]!;
        let ppre: Float32Array | null = null;
        let dspre: Float32Array | null = null;
        if (np > 0) {
          dspre = arena.take('attn.dspre', nb * np);
          sgemm(false, true, nb, np, d, 1, dog, pre!.v.subarray(g * d), 0, dspre, { ldb: Gd });
          if (tape) ppre = tape.buf.subarray(tape.used, (tape.used += nb * np));
          else {
            ppre = arena.take('attn.ppre', nb * np);
            sgemm(false, true, nb, np, d, scale, qg, pre!.k.subarray(g * d), 0, ppre, { ldb: Gd });
          }
          for (let i = 0; i < nb; i++) {
            const l = lseOf(i);
            const c = tape ? invOf(i) : 0;
            const Di = D[i]!;
            const row = i * np;
            for (let j = 0; j < np; j++) {
              const p = tape ? ppre[row + j]! * c : fastExp(ppre[row + j]! - l);
              ppre[row + j] = p;
              dspre[row + j] = p * (dspre[row + j]! - Di);
            }
          }
        }
        for (const ch of chunks) {
          const m = (ch.c1 - ch.c0) * rep;
          const kmax = ch.kmax;
          const keys = ch.seg.keys;
          const at = (ch.c0 - b0) * rep;
          const qc = qg.subarray(at * d);
          const doc = dog.subarray(at * d);
          const pown = tape ? tape.buf.subarray(tape.used, (tape.used += m * kmax)) : arena.take('attn.pown', m * kmax);
          const dsown = arena.take('attn.dsown', m * kmax);
          if (!tape) sgemm(false, true, m, kmax, d, scale, qc, keys.k.subarray(g * d), 0, pown, { ldb: Gd });
          sgemm(false, true, m, kmax, d, 1, doc, keys.v.subarray(g * d), 0, dsown, { ldb: Gd });
          for (let i = 0; i < m; i++) {
            const r = ch.c0 + Math.floor(i / rep);
            const vis = ch.off + (r - ch.seg.q0) + 1;
            const l = lseOf(at + i);
            const c = tape ? invOf(at + i) : 0;
            const Di = D[at + i]!;
            const row = i * kmax;
            for (let j = 0; j < vis; j++) {
              const p = tape ? pown[row + j]! * c : fastExp(pown[row + j]! - l);
              pown[row + j] = p;
              dsown[row + j] = p * (dsown[row + j]! - Di);
            }
            for (let j = vis; j < kmax; j++) {
              pown[row + j] = 0;
              dsown[row + j] = 0;
            }
          }
          // out = P·V: dV += Pᵀ·dout; S = q·kᵀ/√d: dK += dSᵀ·q/√d, dq = dS·K/√d
          sgemm(true, false, kmax, d, m, 1, pown, doc, 1, keys.dv!.subarray(g * d), { ldc: Gd });
          sgemm(true, false, kmax, d, m, scale, dsown, qc, 1, keys.dk!.subarray(g * d), { ldc: Gd });
          sgemm(false, false, m, d, kmax, scale, dsown, keys.k.subarray(g * d), 0, dqg.subarray(at * d), { ldb: Gd });
        }
        if (ppre && dspre) {
          sgemm(true, false, np, d, nb, 1, ppre, dog, 1, pre!.dv!.subarray(g * d), { ldc: Gd });
          sgemm(true, false, np, d, nb, scale, dspre, qg, 1, pre!.dk!.subarray(g * d), { ldc: Gd });
          sgemm(false, false, nb, d, np, scale, dspre, pre!.k.subarray(g * d), 1, dqg, { ldb: Gd });
        }
        scatterHeads(dq, dqg, b0, b1, g, rep, Hd, d);
      }
    }
  }
}
