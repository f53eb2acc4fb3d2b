// The Llama / Qwen2 decoder, read top to bottom: token embedding → layers (block.ts) → final RMSNorm →
// LM head, over a packed batch of groups (batch.ts: each prompt computed once, its completions attending
// to it as a shared prefix). Three ways through it:
//  - forward / backward: logprobs of every completion token; with a tape, the gradient of Σ g_t·logp_t
//    into the trainable parameters (LoRA adapters, or every weight in full-parameter mode);
//  - prefill: a prompt's keys/values (and layer inputs) kept as a PrefixState, which decoding and a later
//    forward of the same prompt under the same weights reuse instead of recomputing; extendMany continues
//    a kept prompt with more tokens (prompts sharing a long beginning, such as one database's schema);
//  - decodeStep: one token for each of B sequences, each attending to its group's prefix and its cache;
//    a cache made with keepStates also keeps each sequence's layer inputs (a CompletionState), with which
//    a later forward under the same weights runs no layer for those rows.
import { rng } from '../random.js';
import { Arena } from './arena.js';
import { attentionLayout, packGroups, type Batch, type GroupInput } from './batch.js';
import { allocActs, blockBackward, blockForward, LINEAR_NAMES, type Layer, type LayerActs, type LinearName } from './block.js';
import type { ModelConfig, Tensor } from './config.js';
import { sgemm } from './blas.js';
import { probTapeSize, type AttnGroup, type KvView, type ProbTape } from './ops/attention.js';
import { embeddingBackward, embeddingForward } from './ops/embedding.js';
import type { AdapterMode, Linear, Param } from './ops/linear.js';
import { tokenLogprobsBackward, tokenLogprobsForward } from './ops/logprobs.js';
import { rowKernels } from './wasm/rows.js';
import { rmsnormBackward, rmsnormForward } from './ops/rmsnorm.js';
import { RopeTable } from './ops/rope.js';

export { LINEAR_NAMES, type LinearName, type Layer } from './block.js';
export type { Linear, LoraAdapter, Param } from './ops/linear.js';

/** A prompt computed once: what decoding and a later pass over its completions need. */
export interface PrefixState {
  prompt: Int32Array;
  adapter: boolean;
  /** Per layer: keys (after RoPE) and values [P, G·d]; the layer inputs [P, C] when kept for a backward. */
  k: Float32Array[];
  v: Float32Array[];
  x: Float32Array[] | null;
  /** The last layer's output at the prompt's last row (before the final norm). */
  xLast: Float32Array;
  bytes: number;
}

/**
 * A completion as the decode computed it, for a later backward under the same weights: per layer the
 * input rows of its tokens c_0..c_{n−2} [n − 1, C], and the last layer's output at them (before the
 * final norm). With these the training forward has nothing left to compute for the completion rows.
 */
export interface CompletionState {
  x: Float32Array[];
  xOut: Float32Array;
}

export type Keep = 'none' | 'inputs' | 'all';

/** Largest attention-probability tape a recomputed layer keeps for its backward (else they are recomputed). */
const PROB_TAPE_BYTES = 256 * 2 ** 20;

export interface ForwardOptions {
  adapter: boolean;
  temperature: number;
  /**
   * What the backward will need: nothing (logprobs only), the layer inputs (activations recomputed layer
   * by layer in the backward: gradient checkpointing), or every activation.
   */
  keep: Keep;
  /** Per group, its prompt computed earlier under the same weights and adapter (all groups or none). */
  prefixes?: PrefixState[];
  /**
   * Per completion of the batch (in order), its rows as the sampling decode computed them (with
   * `prefixes` and keep 'inputs'): the layers then do not run at all, the backward recomputes from these.
   */
  completions?: CompletionState[];
  /** Per-token entropy of every prediction (metrics). */
  entropy?: boolean;
  /**
   * false: skip the LM head (the logprobs returned are empty; a backward of the tape computes them),
   * for a training pass whose caller needs the logprobs only after the backward. Default true.
   */
  logprobs?: boolean;
  /** LoRA dropout seed of this pass (training); null or absent: no dropout. */
  dropSeed?: number | null;
}

export interface Tape {
  batch: Batch;
  mode: AdapterMode;
  temperature: number;
  keep: Keep;
  prefixes: PrefixState[] | null;
  /** keep 'inputs': per layer, the input rows the forward computed (completion rows when prefixes were reused). */
  inputs: Float32Array[];
  /** keep 'all': every layer's activations. */
  acts: LayerActs[];
  /** Final-layer outputs at the prediction rows, normed, and the norm's rstd. */
  xp: Float32Array;
  hp: Float32Array;
  rstdp: Float32Array;
}

export interface DecodeCache {
  slots: number;
  maxNew: number;
  /** Per layer [slots, maxNew, G·d]. */
  k: Float32Array[];
  v: Float32Array[];
  /** When kept for a backward (CompletionState): per layer the input rows [slots, maxNew, C], and the last layer's output. */
  x: Float32Array[] | null;
  xOut: Float32Array | null;
}

/** Arrays end to end in one of `total` floats (they must fill it exactly). */
function concatRows(parts: Float32Array[], total: number): Float32Array {
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  if (at !== total) throw new Error(`kept completion rows hold ${at} floats where the batch has ${total}`);
  return out;
}

/** One sequence of a decode step: its group's prompt, its cache slot, tokens generated before this one. */
export interface DecodeSeq {
  prefix: PrefixState;
  slot: number;
  t: number;
}

export class CausalLM {
  readonly rope: RopeTable;
  readonly layers: Layer[];
  readonly embed: Float32Array;
  embedGrad: Float32Array | null = null;
  readonly lmHead: Float32Array;
  lmHeadGrad: Float32Array | null = null;
  readonly norm: Float32Array;
  normGrad: Float32Array | null = null;
  readonly arena = new Arena();
  private dropRng = rng(1234);

  constructor(
    readonly config: ModelConfig,
    weights: Map<string, Tensor>,
    opts: { maxPositions?: number } = {},
  ) {
    const c = config;
    const w = (name: string) => {
      const t = weights.get(name);
      if (!t) throw new Error(`missing tensor '${name}'`);
      return t.data;
    };
    this.embed = w('model.embed_tokens.weight');
    this.lmHead = c.tieWordEmbeddings ? this.embed : w('lm_head.weight');
    this.norm = w('model.norm.weight');
    this.rope = new RopeTable(c.headDim, opts.maxPositions ?? Math.min(c.maxPositionEmbeddings, 4096), c.ropeTheta);
    const q = c.numHeads * c.headDim;
    const kv = c.numKvHeads * c.headDim;
    this.layers = Array.from({ length: c.numLayers }, (_, i) => {
      const p = `model.layers.${i}`;
      const lin = (name: LinearName, out: number, inn: number, sub: 'self_attn' | 'mlp'): Linear => ({
        name: `${p}.${sub}.${name}`,
        out,
        in: inn,
        w: w(`${p}.${sub}.${name}.weight`),
        b: weights.get(`${p}.${sub}.${name}.bias`)?.data ?? null,
        wGrad: null,
        bGrad: null,
        lora: null,
      });
      return {
        inNorm: w(`${p}.input_layernorm.weight`),
        inNormGrad: null,
        postNorm: w(`${p}.post_attention_layernorm.weight`),
        postNormGrad: null,
        lin: {
          q_proj: lin('q_proj', q, c.hiddenSize, 'self_attn'),
          k_proj: lin('k_proj', kv, c.hiddenSize, 'self_attn'),
          v_proj: lin('v_proj', kv, c.hiddenSize, 'self_attn'),
          o_proj: lin('o_proj', c.hiddenSize, q, 'self_attn'),
          gate_proj: lin('gate_proj', c.intermediateSize, c.hiddenSize, 'mlp'),
          up_proj: lin('up_proj', c.intermediateSize, c.hiddenSize, 'mlp'),
          down_proj: lin('down_proj', c.hiddenSize, c.intermediateSize, 'mlp'),
        },
      };
    });
  }

  /** Every weight becomes trainable (full-parameter training of small models). Returns the parameters. */
  enableFullTraining(): Param[] {
    const params: Param[] = [];
    const add = (name: string, shape: number[], data: Float32Array): Float32Array => {
      const grad = new Float32Array(data.length);
      params.push({ name, shape, data, grad });
      return grad;
    };
    const c = this.config;
    this.embedGrad = add('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize], this.embed);
    if (this.lmHead !== this.embed) this.lmHeadGrad = add('lm_head.weight', [c.vocabSize, c.hiddenSize], this.lmHead);
    else this.lmHeadGrad = this.embedGrad;
    this.normGrad = add('model.norm.weight', [c.hiddenSize], this.norm);
    this.layers.forEach((L, i) => {
      L.inNormGrad = add(`model.layers.${i}.input_layernorm.weight`, [c.hiddenSize], L.inNorm);
      L.postNormGrad = add(`model.layers.${i}.post_attention_layernorm.weight`, [c.hiddenSize], L.postNorm);
      for (const n of LINEAR_NAMES) {
        const lin = L.lin[n];
        lin.wGrad = add(`${lin.name}.weight`, [lin.out, lin.in], lin.w);
        if (lin.b) lin.bGrad = add(`${lin.name}.bias`, [lin.out], lin.b);
      }
    });
    return params;
  }

  /** The weights as Hugging Face tensors (views, not copies). */
  tensors(): Map<string, Tensor> {
    const c = this.config;
    const t = new Map<string, Tensor>();
    t.set('model.embed_tokens.weight', { shape: [c.vocabSize, c.hiddenSize], data: this.embed });
    if (this.lmHead !== this.embed) t.set('lm_head.weight', { shape: [c.vocabSize, c.hiddenSize], data: this.lmHead });
    t.set('model.norm.weight', { shape: [c.hiddenSize], data: this.norm });
    this.layers.forEach((L, i) => {
      t.set(`model.layers.${i}.input_layernorm.weight`, { shape: [c.hiddenSize], data: L.inNorm });
      t.set(`model.layers.${i}.post_attention_layernorm.weight`, { shape: [c.hiddenSize], data: L.postNorm });
      for (const n of LINEAR_NAMES) {
        const lin = L.lin[n];
        t.set(`${lin.name}.weight`, { shape: [lin.out, lin.in], data: lin.w });
        if (lin.b) t.set(`${lin.name}.bias`, { shape: [lin.out], data: lin.b });
      }
    });
    return t;
  }

  /** A frozen copy of the base weights (the reference policy of full-parameter training). */
  frozenCopy(): CausalLM {
    const copy = new Map([...this.tensors()].map(([k, v]) => [k, { shape: v.shape, data: v.data.slice() }]));
    return new CausalLM(this.config, copy, { maxPositions: this.rope.maxPos });
  }

  /** The linears of every layer. */
  linears(): Linear[] {
    return this.layers.flatMap((L) => LINEAR_NAMES.map((n) => L.lin[n]));
  }

  /** Restart the dropout seed sequence (reproducible training; tests). */
  reseedDropout(seed: number): void {
    this.dropRng = rng(seed);
  }

  /** A dropout seed for a training pass (drawn from the model's seeded stream). */
  nextDropSeed(): number {
    return Math.floor(this.dropRng() * 4294967296) >>> 0;
  }

  private ctx(batch: { pos: Int32Array }) {
    return { config: this.config, rope: this.rope, pos: batch.pos, arena: this.arena };
  }

  private checkPositions(pos: Int32Array): void {
    let max = -1;
    for (let i = 0; i < pos.length; i++) if (pos[i]! > max) max = pos[i]!;
    if (max >= this.rope.maxPos) throw new Error(`sequence of ${max + 1} tokens exceeds the ${this.rope.maxPos} positions this model was set up for`);
  }

  // ------------------------------------------------------------------ training and scoring passes

  /** Logprobs (at `temperature`) of every completion token of the batch; with `keep`, the tape for backward. */
  forward(batch: Batch, o: ForwardOptions): { logprobs: Float32Array; entropy: Float32Array | null; tape: Tape | null } {
    const c = this.config;
    const C = c.hiddenSize;
    const Gd = c.numKvHeads * c.headDim;
    const rows = batch.rows;
    this.checkPositions(batch.pos);
    const prefixes = o.prefixes && o.prefixes.length ? o.prefixes : null;
    if (prefixes && prefixes.length !== batch.groups.length) throw new Error('prefixes must be given for every group or none');
    const r0 = prefixes ? batch.promptRows : 0;
    const mode: AdapterMode = { on: o.adapter, dropSeed: o.dropSeed ?? null };
    const ctx = this.ctx(batch);
    const a = this.arena;
    let x = a.take('fwd.x0', rows * C);
    const inputs: Float32Array[] = [];
    const allActs: LayerActs[] = [];
    if (o.completions) {
      if (!prefixes || o.keep !== 'inputs') throw new Error('completions kept from decoding need kept prompts and keep: inputs');
      const kept = o.completions;
      for (let li = 0; li < this.layers.length; li++) inputs.push(concatRows(kept.map((st) => st.x[li]!), (rows - r0) * C));
      x.set(concatRows(kept.map((st) => st.xOut), (rows - r0) * C), r0 * C);
    } else embeddingForward(x.subarray(r0 * C), this.embed, batch.tokens.subarray(r0), rows - r0, C, c.vocabSize);
    // (with completions kept from decoding every layer's inputs are there already: no layer runs)
    for (let li = 0; !o.completions && li < this.layers.length; li++) {
      const L = this.layers[li]!;
      const keepAll = o.keep === 'all';
      const acts = allocActs((n, size) => a.take(keepAll ? `act${li}.${n}` : `act.${n}`, size), rows, c, L, x);
      const xOut = a.take(keepAll ? `fwd.x${li + 1}` : li % 2 ? 'fwd.xa' : 'fwd.xb', rows * C);
      const layout = attentionLayout(batch, Gd, acts.k, acts.v, undefined, undefined, prefixes?.map((p) => ({ k: p.k[li]!, v: p.v[li]! })));
      blockForward(L, li, x, xOut, acts, r0, rows, layout, mode, ctx);
      if (o.keep === 'inputs') inputs.push(x.slice(r0 * C, rows * C));
      if (keepAll) allActs.push(acts);
      x = xOut;
    }
    // the final norm and the LM head run only on the rows that predict a completion token
    const nPred = batch.predRows.length;
    const xp = new Float32Array(nPred * C);
    const lastOf = new Map(batch.groups.map((g, gi) => [g.promptRow + g.promptLen - 1, gi]));
    for (let i = 0; i < nPred; i++) {
      const row = batch.predRows[i]!;
      const src = prefixes && row < batch.promptRows ? prefixes[lastOf.get(row)!]!.xLast : x.subarray(row * C, (row + 1) * C);
      xp.set(src, i * C);
    }
    const hp = new Float32Array(nPred * C);
    const rstdp = new Float32Array(nPred);
    rmsnormForward(hp, rstdp, xp, this.norm, nPred, C, c.rmsNormEps);
    const entropy = o.entropy ? new Float32Array(nPred) : null;
    const logprobs = new Float32Array(o.logprobs === false && !entropy ? 0 : nPred);
    if (logprobs.length) tokenLogprobsForward(logprobs, hp, this.lmHead, batch.targets, nPred, C, c.vocabSize, o.temperature, entropy ?? undefined);
    const tape: Tape | null = o.keep === 'none' ? null : { batch, mode, temperature: o.temperature, keep: o.keep, prefixes, inputs, acts: allActs, xp, hp, rstdp };
    return { logprobs, entropy, tape };
  }

  /**
   * Accumulates the gradients of Σ_t g_t · logp_t (g over the batch's predictions) into the trainable
   * parameters, and returns the logprobs of the batch's completion tokens (the LM head's backward
   * computes them anyway).
   */
  backward(tape: Tape, g: Float32Array): Float32Array {
    const c = this.config;
    const C = c.hiddenSize;
    const Gd = c.numKvHeads * c.headDim;
    const { batch } = tape;
    const rows = batch.rows;
    const nPred = batch.predRows.length;
    if (g.length !== nPred) throw new Error(`gradient has ${g.length} entries for ${nPred} completion tokens`);
    const a = this.arena;
    const ctx = this.ctx(batch);
    const dhp = a.take('bwd.dhp', nPred * C);
    const logprobs = new Float32Array(nPred);
    tokenLogprobsBackward(dhp, this.lmHeadGrad, g, tape.hp, this.lmHead, batch.targets, nPred, C, c.vocabSize, tape.temperature, logprobs);
    const dxp = a.zeros('bwd.dxp', nPred * C);
    rmsnormBackward(dxp, this.normGrad, dhp, tape.xp, this.norm, tape.rstdp, nPred, C);
    const dx = a.zeros('bwd.dx', rows * C);
    for (let i = 0; i < nPred; i++) {
      const o = batch.predRows[i]! * C;
      for (let j = 0; j < C; j++) dx[o + j]! += dxp[i * C + j]!;
    }
    const dk = a.take('bwd.dk', rows * Gd);
    const dv = a.take('bwd.dv', rows * Gd);
    for (let li = this.layers.length - 1; li >= 0; li--) {
      const L = this.layers[li]!;
      let acts: LayerActs;
      let probs: ProbTape | undefined;
      if (tape.keep === 'all') acts = tape.acts[li]!;
      else {
        // recompute this layer's activations from its input rows (gradient checkpointing)
        const xin = a.take('bwd.xin', rows * C);
        const own = tape.inputs[li]!;
        xin.set(own, rows * C - own.length);
        if (tape.prefixes) tape.batch.groups.forEach((grp, gi) => xin.set(tape.prefixes![gi]!.x![li]!, grp.promptRow * C));
        acts = allocActs((n, size) => a.take(`act.${n}`, size), rows, c, L, xin);
        const fwdLayout = attentionLayout(batch, Gd, acts.k, acts.v);
        // the recomputed forward keeps its attention probabilities for this layer's backward, when they fit
        const n = probTapeSize(fwdLayout, { H: c.numHeads, G: c.numKvHeads, d: c.headDim });
        // taken at its largest once: pages the tape never reaches are never touched (nor resident)
        if (n * 4 <= PROB_TAPE_BYTES) probs = { buf: rowKernels().take('bwd.probs', PROB_TAPE_BYTES / 4).subarray(0, n), used: 0, inv: a.take('bwd.probsInv', rows * c.numHeads) };
        blockForward(L, li, xin, null, acts, 0, rows, fwdLayout, tape.mode, ctx, probs ? { tape: probs } : {});
      }
      const layout = attentionLayout(batch, Gd, acts.k, acts.v, dk, dv);
      blockBackward(L, li, dx, acts, rows, layout, dk, dv, tape.mode, ctx, probs);
    }
    if (this.embedGrad) embeddingBackward(this.embedGrad, dx, batch.tokens, rows, C);
    return logprobs;
  }

  /** Logprobs of groups' completions (no gradient): a convenience over forward. */
  groupLogprobs(groups: GroupInput[], o: Omit<ForwardOptions, 'keep'>): Float32Array {
    return this.forward(packGroups(groups), { ...o, keep: 'none' }).logprobs;
  }

  // ------------------------------------------------------------------ prompts kept for reuse, and decoding

  /** Runs a prompt once and keeps its keys/values (and, with `keepInputs`, the layer inputs for a later backward). */
  prefill(prompt: ArrayLike<number>, adapter: boolean, keepInputs: boolean): PrefixState {
    return this.prefillMany([prompt], adapter, keepInputs)[0]!;
  }

  /** prefill of several prompts as one packed pass (larger products than one prompt at a time). */
  prefillMany(prompts: ArrayLike<number>[], adapter: boolean, keepInputs: boolean): PrefixState[] {
    const c = this.config;
    const C = c.hiddenSize;
    const Gd = c.numKvHeads * c.headDim;
    const batch = packGroups(prompts.map((prompt) => ({ prompt, completions: [] })));
    const rows = batch.rows;
    this.checkPositions(batch.pos);
    const ctx = this.ctx(batch);
    const a = this.arena;
    const states = batch.groups.map((g, gi) => ({ g, prompt: Int32Array.from(prompts[gi]!), k: [] as Float32Array[], v: [] as Float32Array[], x: [] as Float32Array[] }));
    let x = a.take('fwd.x0', rows * C);
    embeddingForward(x, this.embed, batch.tokens, rows, C, c.vocabSize);
    const mode: AdapterMode = { on: adapter, dropSeed: null };
    for (let li = 0; li < this.layers.length; li++) {
      const L = this.layers[li]!;
      const acts = allocActs((n, size) => a.take(`act.${n}`, size), rows, c, L, x);
      const xOut = a.take(li % 2 ? 'fwd.xa' : 'fwd.xb', rows * C);
      blockForward(L, li, x, xOut, acts, 0, rows, attentionLayout(batch, Gd, acts.k, acts.v), mode, ctx);
      for (const s of states) {
        const r0 = s.g.promptRow;
        const r1 = r0 + s.g.promptLen;
        s.k.push(acts.k.slice(r0 * Gd, r1 * Gd));
        s.v.push(acts.v.slice(r0 * Gd, r1 * Gd));
        if (keepInputs) s.x.push(x.slice(r0 * C, r1 * C));
      }
      x = xOut;
    }
    return states.map((s) => {
      const P = s.g.promptLen;
      const end = s.g.promptRow + P;
      const floats = this.layers.length * 2 * P * Gd + (keepInputs ? this.layers.length * P * C : 0) + C;
      return { prompt: s.prompt, adapter, k: s.k, v: s.v, x: keepInputs ? s.x : null, xLast: x.slice((end - 1) * C, end * C), bytes: floats * 4 };
    });
  }

  /**
   * Prompts that continue a kept prompt (`base`, e.g. the schema several questions share): only the
   * suffix rows are computed, attending to the base's keys/values, and each result is the state a
   * prefill of base + suffix would give. With `keepInputs`, every base needs its layer inputs.
   */
  extendMany(items: { base: PrefixState; suffix: ArrayLike<number> }[], keepInputs: boolean): PrefixState[] {
    const c = this.config;
    const C = c.hiddenSize;
    const Gd = c.numKvHeads * c.headDim;
    for (const it of items) {
      if (it.suffix.length < 1) throw new Error('extendMany: an empty suffix (use the base itself)');
      if (keepInputs && !it.base.x) throw new Error('extendMany: the base kept no layer inputs');
    }
    const bases = [...new Set(items.map((it) => it.base))];
    // each suffix is a completion of its base's group; a placeholder last token makes every suffix token a row
    const members = bases.map((b) => items.flatMap((it, i) => (it.base === b ? [i] : [])));
    const batch = packGroups(bases.map((b, bi) => ({ prompt: b.prompt, completions: members[bi]!.map((i) => [...Array.from(items[i]!.suffix), 0]) })));
    const rows = batch.rows;
    const r0 = batch.promptRows;
    this.checkPositions(batch.pos);
    const ctx = this.ctx(batch);
    const a = this.arena;
    const out = items.map((it) => ({ k: [] as Float32Array[], v: [] as Float32Array[], x: [] as Float32Array[], row: 0, n: it.suffix.length, base: it.base }));
    bases.forEach((_, bi) => batch.groups[bi]!.completions.forEach((pc, k) => (out[members[bi]![k]!]!.row = pc.row)));
    let x = a.take('fwd.x0', rows * C);
    embeddingForward(x.subarray(r0 * C), this.embed, batch.tokens.subarray(r0), rows - r0, C, c.vocabSize);
    const mode: AdapterMode = { on: bases[0]?.adapter ?? false, dropSeed: null };
    if (bases.some((b) => b.adapter !== mode.on)) throw new Error('extendMany: bases computed with and without the adapter');
    const concat = (head: Float32Array, tail: Float32Array) => {
      const r = new Float32Array(head.length + tail.length);
      r.set(head);
      r.set(tail, head.length);
      return r;
    };
    for (let li = 0; li < this.layers.length; li++) {
      const L = this.layers[li]!;
      const acts = allocActs((n, size) => a.take(`act.${n}`, size), rows, c, L, x);
      const xOut = a.take(li % 2 ? 'fwd.xa' : 'fwd.xb', rows * C);
      const layout = attentionLayout(batch, Gd, acts.k, acts.v, undefined, undefined, bases.map((b) => ({ k: b.k[li]!, v: b.v[li]! })));
      blockForward(L, li, x, xOut, acts, r0, rows, layout, mode, ctx);
      for (const s of out) {
        s.k.push(concat(s.base.k[li]!, acts.k.subarray(s.row * Gd, (s.row + s.n) * Gd)));
        s.v.push(concat(s.base.v[li]!, acts.v.subarray(s.row * Gd, (s.row + s.n) * Gd)));
        if (keepInputs) s.x.push(concat(s.base.x![li]!, x.subarray(s.row * C, (s.row + s.n) * C)));
      }
      x = xOut;
    }
    return out.map((s, i) => {
      const prompt = new Int32Array(s.base.prompt.length + s.n);
      prompt.set(s.base.prompt);
      prompt.set(Array.from(items[i]!.suffix), s.base.prompt.length);
      const P = prompt.length;
      const floats = this.layers.length * 2 * P * Gd + (keepInputs ? this.layers.length * P * C : 0) + C;
      return { prompt, adapter: mode.on, k: s.k, v: s.v, x: keepInputs ? s.x : null, xLast: x.slice((s.row + s.n - 1) * C, (s.row + s.n) * C), bytes: floats * 4 };
    });
  }

  /** The final-normed hidden state of a prompt's last row (the first completion token's distribution). */
  prefixHidden(p: PrefixState): Float32Array {
    const h = new Float32Array(this.config.hiddenSize);
    rmsnormForward(h, new Float32Array(1), p.xLast, this.norm, 1, this.config.hiddenSize, this.config.rmsNormEps);
    return h;
  }

  /** A decode cache; with `keepStates`, it also keeps what a CompletionState needs. */
  newDecodeCache(slots: number, maxNew: number, keepStates = false): DecodeCache {
    const Gd = this.config.numKvHeads * this.config.headDim;
    const C = this.config.hiddenSize;
    const n = slots * maxNew;
    return {
      slots,
      maxNew,
      k: this.layers.map(() => new Float32Array(n * Gd)),
      v: this.layers.map(() => new Float32Array(n * Gd)),
      x: keepStates ? this.layers.map(() => new Float32Array(n * C)) : null,
      xOut: keepStates ? new Float32Array(n * C) : null,
    };
  }

  /** Bytes a decode cache with `keepStates` adds for the completion states. */
  completionStateBytes(slots: number, maxNew: number): number {
    return slots * maxNew * this.config.hiddenSize * (this.layers.length + 1) * 4;
  }

  /** The state of the sequence in `slot` after it took `n` decode steps (its tokens c_0..c_{n−1} were fed). */
  completionState(cache: DecodeCache, slot: number, n: number): CompletionState {
    if (!cache.x || !cache.xOut) throw new Error('this decode cache keeps no completion states');
    const C = this.config.hiddenSize;
    const at = slot * cache.maxNew * C;
    return { x: cache.x.map((xl) => xl.slice(at, at + n * C)), xOut: cache.xOut.slice(at, at + n * C) };
  }

  /**
   * One decode step: token b continues sequence seqs[b] (sequences of one prefix next to each other).
   * Returns the final-normed hidden states [B, C].
   */
  decodeStep(tokens: ArrayLike<number>, seqs: DecodeSeq[], cache: DecodeCache, adapter: boolean): Float32Array {
    const c = this.config;
    const C = c.hiddenSize;
    const Gd = c.numKvHeads * c.headDim;
    const B = seqs.length;
    const pos = Int32Array.from(seqs, (s) => s.prefix.prompt.length + s.t);
    this.checkPositions(pos);
    for (const s of seqs) if (s.t >= cache.maxNew) throw new Error(`sequence reached the decode cache's ${cache.maxNew} tokens`);
    const ctx = this.ctx({ pos });
    const a = this.arena;
    let x = a.take('dec.x0', B * C);
    embeddingForward(x, this.embed, tokens, B, C, c.vocabSize);
    const mode: AdapterMode = { on: adapter, dropSeed: null };
    const slotRows = cache.maxNew * Gd;
    for (let li = 0; li < this.layers.length; li++) {
      const L = this.layers[li]!;
      const acts = allocActs((n, size) => a.take(`dec.${n}`, size), B, c, L, x);
      const kc = cache.k[li]!;
      const vc = cache.v[li]!;
      const layout: AttnGroup[] = [];
      seqs.forEach((s, b) => {
        const seg = { q0: b, nq: 1, keys: { k: kc.subarray(s.slot * slotRows), v: vc.subarray(s.slot * slotRows) } as KvView, nk: s.t + 1 };
        const last = layout[layout.length - 1];
        if (last && b > 0 && seqs[b - 1]!.prefix === s.prefix) last.segs.push(seg);
        else layout.push({ prefix: { k: s.prefix.k[li]!, v: s.prefix.v[li]! }, np: s.prefix.prompt.length, segs: [seg] });
      });
      const xOut = a.take(li % 2 ? 'dec.xa' : 'dec.xb', B * C);
      if (cache.x) seqs.forEach((s, b) => cache.x![li]!.set(x.subarray(b * C, (b + 1) * C), (s.slot * cache.maxNew + s.t) * C));
      blockForward(L, li, x, xOut, acts, 0, B, layout, mode, ctx, {
        kvSink: (k, v) =>
          seqs.forEach((s, b) => {
            kc.set(k.subarray(b * Gd, (b + 1) * Gd), s.slot * slotRows + s.t * Gd);
            vc.set(v.subarray(b * Gd, (b + 1) * Gd), s.slot * slotRows + s.t * Gd);
          }),
      });
      x = xOut;
    }
    if (cache.xOut) seqs.forEach((s, b) => cache.xOut!.set(x.subarray(b * C, (b + 1) * C), (s.slot * cache.maxNew + s.t) * C));
    const h = new Float32Array(B * C);
    rmsnormForward(h, a.take('dec.rstd', B), x, this.norm, B, C, c.rmsNormEps);
    return h;
  }

  /** Logits [B, V] of final hidden states [B, C]. */
  logits(h: Float32Array, B: number, out: Float32Array): void {
    const c = this.config;
    sgemm(false, true, B, c.vocabSize, c.hiddenSize, 1, h, this.lmHead, 0, out);
  }
}
