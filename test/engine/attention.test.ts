// The attention op against a float64 definition written here (each query row: softmax over its
// group's prefix and its own visible keys, scaled by 1/√d; gradients by the chain rule), on layouts that
// take every path of the op: a long causal prompt (blocks of query rows, products computed transposed),
// short segments after a prefix (products as they are), one-row segments whose keys share a buffer
// (decode: one product over all of them), with and without the probability tape.
import assert from 'node:assert/strict';
import test from 'node:test';
import { Arena } from '../../src/engine/arena.js';
import { attentionBackward, attentionForward, probTapeSize, type AttnGroup, type ProbTape } from '../../src/engine/ops/attention.js';
import { rowKernels } from '../../src/engine/wasm/rows.js';
import { rng } from '../../src/random.js';

const H = 6;
const G = 2;
const d = 8;
const rep = H / G;
const random = rng(21);

interface Seg {
  q0: number;
  nq: number;
  /** first row of its own keys in the key buffer */
  k0: number;
  nk: number;
}
interface Grp {
  /** prefix rows in the key buffer */
  p0: number;
  np: number;
  segs: Seg[];
}

/** Forward and backward in float64: out, and dq/dk/dv for dout. */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, groups: Grp[], rows: number, keyRows: number) {
  const out = new Float64Array(rows * H * d);
  const dq = new Float64Array(rows * H * d);
  const dk = new Float64Array(keyRows * G * d);
  const dv = new Float64Array(keyRows * G * d);
  const sc = 1 / Math.sqrt(d);
  for (const grp of groups)
    for (const seg of grp.segs)
      for (let i = 0; i < seg.nq; i++) {
        const r = seg.q0 + i;
        // visible key rows: the prefix, then own keys up to the causal edge
        const keys = [...Array.from({ length: grp.np }, (_, j) => grp.p0 + j), ...Array.from({ length: seg.nk - seg.nq + i + 1 }, (_, j) => seg.k0 + j)];
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / rep);
          const qv = (t: number) => q[r * H * d + h * d + t]!;
          const s = keys.map((kr) => sc * Array.from({ length: d }, (_, t) => qv(t) * k[kr * G * d + g * d + t]!).reduce((a, b) => a + b, 0));
          const mx = Math.max(...s);
          const e = s.map((x) => Math.exp(x - mx));
          const Z = e.reduce((a, b) => a + b, 0);
          const p = e.map((x) => x / Z);
          for (let t = 0; t < d; t++) out[r * H * d + h * d + t] = keys.reduce((a, kr, j) => a + p[j]! * v[kr * G * d + g * d + t]!, 0);
          // dp_j = dout·v_j; ds_j = p_j (dp_j − Σ p dp); dq += ds_j k_j /√d; dk_j += ds_j q /√d; dv_j += p_j dout
          const go = (t: number) => dout[r * H * d + h * d + t]!;
          const dp = keys.map((kr) => Array.from({ length: d }, (_, t) => go(t) * v[kr * G * d + g * d + t]!).reduce((a, b) => a + b, 0));
          const Dsum = p.reduce((a, x, j) => a + x * dp[j]!, 0);
          keys.forEach((kr, j) => {
            const ds = p[j]! * (dp[j]! - Dsum);
            for (let t = 0; t < d; t++) {
              dq[r * H * d + h * d + t]! += ds * sc * k[kr * G * d + g * d + t]!;
              dk[kr * G * d + g * d + t]! += ds * sc * qv(t);
              dv[kr * G * d + g * d + t]! += p[j]! * go(t);
            }
          });
        }
      }
  return { out, dq, dk, dv };
}

function check(name: string, got: Float32Array, want: Float64Array): void {
  let scale = 0;
  want.forEach((x) => (scale = Math.max(scale, Math.abs(x))));
  assert.ok(scale > 0, `${name}: something to compare`);
  got.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) <= 2e-5 * scale, `${name}[${i}]: ${x} vs ${want[i]}`));
}

/** Runs the op on a layout (keys in one buffer `keyRows` long) and compares every output with the reference. */
function run(label: string, groups: Grp[], rows: number, keyRows: number, withTape: boolean): void {
  const fill = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
  const q = fill(rows * H * d);
  const k = fill(keyRows * G * d);
  const v = fill(keyRows * G * d);
  const dout = fill(rows * H * d);
  const dk = new Float32Array(keyRows * G * d);
  const dv = new Float32Array(keyRows * G * d);
  const Gd = G * d;
  const view = (r: number, grads: boolean) => ({ k: k.subarray(r * Gd), v: v.subarray(r * Gd), ...(grads ? { dk: dk.subarray(r * Gd), dv: dv.subarray(r * Gd) } : {}) });
  const layout = (grads: boolean): AttnGroup[] => groups.map((g) => ({ prefix: g.np ? view(g.p0, grads) : null, np: g.np, segs: g.segs.map((s) => ({ q0: s.q0, nq: s.nq, keys: view(s.k0, grads), nk: s.nk })) }));
  const shape = { H, G, d };
  const arena = new Arena();
  const out = new Float32Array(rows * H * d);
  const lse = new Float32Array(rows * H);
  let tape: ProbTape | undefined;
  if (withTape) tape = { buf: rowKernels().take('test.tape', probTapeSize(layout(false), shape)), used: 0, inv: new Float32Array(rows * H) };
  attentionForward(out, lse, q, layout(false), shape, arena, tape);
  const want = reference(q, k, v, dout, groups, rows, keyRows);
  check(`${label}: out`, out, want.out);
  const dq = new Float32Array(rows * H * d);
  if (tape) tape.used = 0;
  attentionBackward(dq, dout, q, out, lse, layout(true), shape, arena, tape);
  check(`${label}: dq`, dq, want.dq);
  check(`${label}: dk`, dk, want.dk);
  check(`${label}: dv`, dv, want.dv);
}

test('attention: a long causal prompt and its completions as a group with a shared prefix, with and without the tape', () => {
  // rows: prompt 0..299 (its own keys), then 3 completions of 40, 7 and 1 rows attending to it (many
  // stacked rows per block: transposed products), then a second prompt's completions of 5 and 3 rows
  // (few rows: products as they are)
  const groups: Grp[] = [
    { p0: 0, np: 0, segs: [{ q0: 0, nq: 300, k0: 0, nk: 300 }] },
    { p0: 0, np: 300, segs: [{ q0: 300, nq: 40, k0: 300, nk: 40 }, { q0: 340, nq: 7, k0: 340, nk: 7 }, { q0: 347, nq: 1, k0: 347, nk: 1 }] },
    { p0: 356, np: 20, segs: [{ q0: 348, nq: 5, k0: 348, nk: 5 }, { q0: 353, nq: 3, k0: 353, nk: 3 }] },
  ];
  for (const withTape of [false, true]) run(`prompt + completions, tape ${withTape}`, groups, 356, 376, withTape);
});

test('attention: decode, one query row per sequence over a kept prefix and its own cached keys (slots adjacent and apart)', () => {
  // a prefix of 30 keys at rows 0..29 of the buffer; four sequences whose caches start at rows 30, 38, 54, 62 (slots of 8, one slot empty)
  const segs = [30, 38, 54, 62].map((k0, b) => ({ q0: b, nq: 1, k0, nk: 3 + (b % 2) }));
  run('decode', [{ p0: 0, np: 30, segs }], 4, 70, false);
  // a sequence alone (no shared buffer product)
  run('decode, one sequence', [{ p0: 0, np: 30, segs: [{ q0: 0, nq: 1, k0: 30, nk: 5 }] }], 1, 40, false);
});
