// One decoder layer (pre-norm attention, then pre-norm SwiGLU MLP, each on the residual stream), forward
// and backward over packed rows. The forward may run on a sub-range of rows (the completions of groups
// whose prompts were computed earlier); the backward always covers every row of the batch.
import type { Arena } from './arena.js';
import type { ModelConfig } from './config.js';
import { attentionBackward, attentionForward, type AttnGroup, type ProbTape } from './ops/attention.js';
import { adapterHidden, linearBackward, linearForward, type AdapterMode, type Linear } from './ops/linear.js';
import { rmsnormBackward, rmsnormForward } from './ops/rmsnorm.js';
import { ropeBackward, ropeForward, type RopeTable } from './ops/rope.js';
import { swigluBackward, swigluForward } from './ops/swiglu.js';

export const LINEAR_NAMES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearName = (typeof LINEAR_NAMES)[number];

export interface Layer {
  inNorm: Float32Array;
  inNormGrad: Float32Array | null;
  postNorm: Float32Array;
  postNormGrad: Float32Array | null;
  lin: Record<LinearName, Linear>;
}

/** What a layer's backward needs from its forward, for every row of the batch. */
export interface LayerActs {
  /** The layer input (a view of the caller's buffer). */
  x: Float32Array;
  xn: Float32Array;
  rstd1: Float32Array;
  /** Queries and keys after RoPE; values. */
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** Attention output (o_proj's input) and each row's log-sum-exp per head. */
  attn: Float32Array;
  lse: Float32Array;
  x2: Float32Array;
  xn2: Float32Array;
  rstd2: Float32Array;
  g: Float32Array;
  u: Float32Array;
  a: Float32Array;
  /** LoRA hidden rows drop(x)·Aᵀ per adapted linear. */
  h: Partial<Record<LinearName, Float32Array>>;
}

export interface BlockContext {
  config: ModelConfig;
  rope: RopeTable;
  /** Position of every row. */
  pos: Int32Array;
  arena: Arena;
}

/** Buffers for `rows` rows from `take` (named, so a caller can keep one set per layer or share one). */
export function allocActs(take: (name: string, n: number) => Float32Array, rows: number, c: ModelConfig, layer: Layer, x: Float32Array): LayerActs {
  const C = c.hiddenSize;
  const Hd = c.numHeads * c.headDim;
  const Gd = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const h: LayerActs['h'] = {};
  for (const n of LINEAR_NAMES) {
    const lora = layer.lin[n].lora;
    if (lora) h[n] = take(`h.${n}`, rows * lora.A.shape[0]!);
  }
  return {
    x,
    xn: take('xn', rows * C),
    rstd1: take('rstd1', rows),
    q: take('q', rows * Hd),
    k: take('k', rows * Gd),
    v: take('v', rows * Gd),
    attn: take('attn', rows * Hd),
    lse: take('lse', rows * c.numHeads),
    x2: take('x2', rows * C),
    xn2: take('xn2', rows * C),
    rstd2: take('rstd2', rows),
    g: take('g', rows * I),
    u: take('u', rows * I),
    a: take('a', rows * I),
    h,
  };
}

const rowsOf = (a: Float32Array, width: number, r0: number, r1: number) => a.subarray(r0 * width, r1 * width);

/** The adapter mode of one linear: dropout seeds differ per layer and projection. */
function linMode(mode: AdapterMode, li: number, j: number): AdapterMode {
  return mode.dropSeed === null ? mode : { on: mode.on, dropSeed: (mode.dropSeed ^ Math.imul(li * 8 + j + 1, 0x85ebca6b)) >>> 0 };
}

export interface BlockExtras {
  /** Sees the rows' keys (after RoPE) and values before attention (a decode step writes its cache there). */
  kvSink?: (k: Float32Array, v: Float32Array) => void;
  /** Keeps the attention probabilities for the backward that follows (see ProbTape). */
  tape?: ProbTape;
}

/**
 * xOut[r0:r1] = layer(xIn)[r0:r1]. With xOut null only the activations are formed (a layer recomputed for
 * its backward): the down projection, whose output is only the next layer's input, is skipped.
 */
export function blockForward(L: Layer, li: number, xIn: Float32Array, xOut: Float32Array | null, acts: LayerActs, r0: number, r1: number, attn: AttnGroup[], mode: AdapterMode, ctx: BlockContext, extras: BlockExtras = {}): void {
  const c = ctx.config;
  const C = c.hiddenSize;
  const Hd = c.numHeads * c.headDim;
  const Gd = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const T = r1 - r0;
  const arena = ctx.arena;
  const pos = ctx.pos.subarray(r0, r1);
  const x = rowsOf(xIn, C, r0, r1);
  const lin = (name: LinearName, j: number, input: Float32Array, out: Float32Array, accumulate = false) => {
    const l = L.lin[name];
    const h = acts.h[name];
    linearForward(l, input, T, out, linMode(mode, li, j), h ? rowsOf(h, l.lora!.A.shape[0]!, r0, r1) : null, () => arena.take('lin.scratch', T * Math.max(l.in, l.lora?.A.shape[0] ?? 0)), accumulate);
  };
  const xn = rowsOf(acts.xn, C, r0, r1);
  rmsnormForward(xn, acts.rstd1.subarray(r0, r1), x, L.inNorm, T, C, c.rmsNormEps);
  const q = rowsOf(acts.q, Hd, r0, r1);
  const k = rowsOf(acts.k, Gd, r0, r1);
  const v = rowsOf(acts.v, Gd, r0, r1);
  lin('q_proj', 0, xn, q);
  lin('k_proj', 1, xn, k);
  lin('v_proj', 2, xn, v);
  ropeForward(q, T, c.numHeads, ctx.rope, pos);
  ropeForward(k, T, c.numKvHeads, ctx.rope, pos);
  extras.kvSink?.(k, v);
  attentionForward(acts.attn, acts.lse, acts.q, attn, { H: c.numHeads, G: c.numKvHeads, d: c.headDim }, arena, extras.tape);
  // residual connections: the products add onto a copy of their input stream
  const x2 = rowsOf(acts.x2, C, r0, r1);
  x2.set(x);
  lin('o_proj', 3, rowsOf(acts.attn, Hd, r0, r1), x2, true);
  const xn2 = rowsOf(acts.xn2, C, r0, r1);
  rmsnormForward(xn2, acts.rstd2.subarray(r0, r1), x2, L.postNorm, T, C, c.rmsNormEps);
  const g = rowsOf(acts.g, I, r0, r1);
  const u = rowsOf(acts.u, I, r0, r1);
  const a = rowsOf(acts.a, I, r0, r1);
  lin('gate_proj', 4, xn2, g);
  lin('up_proj', 5, xn2, u);
  swigluForward(a, g, u, T * I);
  if (!xOut) {
    const down = L.lin.down_proj;
    const h = acts.h.down_proj;
    if (mode.on && down.lora && h) adapterHidden(down, a, T, rowsOf(h, down.lora.A.shape[0]!, r0, r1), linMode(mode, li, 6), () => arena.take('lin.scratch', T * down.in));
    return;
  }
  const y = rowsOf(xOut, C, r0, r1);
  y.set(x2);
  lin('down_proj', 6, a, y, true);
}

/**
 * Backward of the layer over every row: dx holds ∂L/∂(layer output) on entry and ∂L/∂(layer input) on
 * return. Parameter gradients accumulate. `attn` is the layout with dk/dv views into `dk`/`dv`; `tape`,
 * the attention probabilities its forward kept (read from the start).
 */
export function blockBackward(L: Layer, li: number, dx: Float32Array, acts: LayerActs, rows: number, attn: AttnGroup[], dk: Float32Array, dv: Float32Array, mode: AdapterMode, ctx: BlockContext, tape?: ProbTape): void {
  const c = ctx.config;
  const C = c.hiddenSize;
  const Hd = c.numHeads * c.headDim;
  const I = c.intermediateSize;
  const T = rows;
  const arena = ctx.arena;
  const lin = (name: LinearName, j: number, dy: Float32Array, dIn: Float32Array, input: Float32Array) => {
    const l = L.lin[name];
    const r = l.lora?.A.shape[0] ?? 0;
    linearBackward(l, dy, T, dIn, input, acts.h[name] ?? null, linMode(mode, li, j), () => arena.take('lin.scratch', T * l.in), () => arena.take('lin.dh', T * r));
  };
  // x3 = x2 + down(silu(gate(xn2)) ⊙ up(xn2))
  const da = arena.zeros('bwd.da', T * I);
  lin('down_proj', 6, dx, da, acts.a);
  const dg = arena.take('bwd.dg', T * I);
  const du = arena.take('bwd.du', T * I);
  swigluBackward(dg, du, da, acts.g, acts.u, T * I);
  const dxn2 = arena.zeros('bwd.dxn', T * C);
  lin('gate_proj', 4, dg, dxn2, acts.xn2);
  lin('up_proj', 5, du, dxn2, acts.xn2);
  rmsnormBackward(dx, L.postNormGrad, dxn2, acts.x2, L.postNorm, acts.rstd2, T, C);
  // x2 = x + o_proj(attention(rope(q(xn)), rope(k(xn)), v(xn)))
  const dattn = arena.zeros('bwd.dattn', T * Hd);
  lin('o_proj', 3, dx, dattn, acts.attn);
  const dq = arena.take('bwd.dq', T * Hd);
  dk.fill(0);
  dv.fill(0);
  if (tape) tape.used = 0;
  attentionBackward(dq, dattn, acts.q, acts.attn, acts.lse, attn, { H: c.numHeads, G: c.numKvHeads, d: c.headDim }, arena, tape);
  ropeBackward(dq, T, c.numHeads, ctx.rope, ctx.pos);
  ropeBackward(dk, T, c.numKvHeads, ctx.rope, ctx.pos);
  const dxn = arena.zeros('bwd.dxn', T * C);
  lin('q_proj', 0, dq, dxn, acts.xn);
  lin('k_proj', 1, dk, dxn, acts.xn);
  lin('v_proj', 2, dv, dxn, acts.xn);
  rmsnormBackward(dx, L.inNormGrad, dxn, acts.x, L.inNorm, acts.rstd1, T, C);
}
