// Packing groups into one batch of rows. A group is one prompt and the completions sampled from it
// (GRPO), or one prompt and its target (SFT, K = 1). Rows hold every prompt first, then every
// completion: each prompt is computed once, and the completions of a group attend to it as a shared
// prefix. Completion k of n tokens contributes n − 1 rows (its last token is only ever a target); its
// first token is predicted from the prompt's last row.
import type { AttnGroup, KvView } from './ops/attention.js';

export interface GroupInput {
  prompt: ArrayLike<number>;
  completions: ArrayLike<number>[];
}

export interface PackedCompletion {
  /** First row of the completion's inputs c_0..c_{n−2}. */
  row: number;
  rows: number;
  /** Tokens of the completion (= its predictions). */
  n: number;
  /** Offset of its predictions in `predRows`/`targets`. */
  pred: number;
}

export interface PackedGroup {
  promptRow: number;
  promptLen: number;
  completions: PackedCompletion[];
}

export interface Batch {
  rows: number;
  /** Rows [0, promptRows) are prompts; the rest completions. */
  promptRows: number;
  tokens: Int32Array;
  pos: Int32Array;
  groups: PackedGroup[];
  /** The row whose output predicts each target token, completion after completion. */
  predRows: Int32Array;
  targets: Int32Array;
}

export function packGroups(groups: GroupInput[]): Batch {
  const promptRows = groups.reduce((a, g) => a + g.prompt.length, 0);
  const compRows = groups.reduce((a, g) => a + g.completions.reduce((b, c) => b + Math.max(0, c.length - 1), 0), 0);
  const nPred = groups.reduce((a, g) => a + g.completions.reduce((b, c) => b + c.length, 0), 0);
  const rows = promptRows + compRows;
  const tokens = new Int32Array(rows);
  const pos = new Int32Array(rows);
  const predRows = new Int32Array(nPred);
  const targets = new Int32Array(nPred);
  const packed: PackedGroup[] = [];
  let pr = 0;
  let cr = promptRows;
  let pi = 0;
  for (const g of groups) {
    const P = g.prompt.length;
    if (P < 1) throw new Error('a group needs a prompt of at least one token');
    for (let t = 0; t < P; t++) {
      tokens[pr + t] = g.prompt[t]!;
      pos[pr + t] = t;
    }
    const completions: PackedCompletion[] = [];
    for (const c of g.completions) {
      const n = c.length;
      const nr = Math.max(0, n - 1);
      for (let j = 0; j < nr; j++) {
        tokens[cr + j] = c[j]!;
        pos[cr + j] = P + j;
      }
      for (let j = 0; j < n; j++) {
        predRows[pi + j] = j === 0 ? pr + P - 1 : cr + j - 1;
        targets[pi + j] = c[j]!;
      }
      completions.push({ row: cr, rows: nr, n, pred: pi });
      cr += nr;
      pi += n;
    }
    packed.push({ promptRow: pr, promptLen: P, completions });
    pr += P;
  }
  return { rows, promptRows, tokens, pos, groups: packed, predRows, targets };
}

/** Rows of G·d floats starting at `row` (and the gradient buffers, when given). */
export function kvAt(row: number, Gd: number, k: Float32Array, v: Float32Array, dk?: Float32Array, dv?: Float32Array): KvView {
  return { k: k.subarray(row * Gd), v: v.subarray(row * Gd), ...(dk ? { dk: dk.subarray(row * Gd) } : {}), ...(dv ? { dv: dv.subarray(row * Gd) } : {}) };
}

/**
 * The attention layout of a batch for one layer: each prompt causally on its own rows, each group's
 * completions with the prompt as shared prefix. `prefixes[g]`, when given, replaces group g's prompt
 * rows as the prefix (a prompt computed earlier and kept), and the prompt's own attention is skipped.
 */
export function attentionLayout(b: Batch, Gd: number, k: Float32Array, v: Float32Array, dk?: Float32Array, dv?: Float32Array, prefixes?: (KvView | null)[]): AttnGroup[] {
  const out: AttnGroup[] = [];
  b.groups.forEach((g, gi) => {
    const kept = prefixes?.[gi] ?? null;
    if (!kept) out.push({ prefix: null, np: 0, segs: [{ q0: g.promptRow, nq: g.promptLen, keys: kvAt(g.promptRow, Gd, k, v, dk, dv), nk: g.promptLen }] });
    const segs = g.completions.filter((c) => c.rows > 0).map((c) => ({ q0: c.row, nq: c.rows, keys: kvAt(c.row, Gd, k, v, dk, dv), nk: c.rows }));
    if (segs.length) out.push({ prefix: kept ?? kvAt(g.promptRow, Gd, k, v, dk, dv), np: g.promptLen, segs });
  });
  return out;
}
