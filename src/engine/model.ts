// The Llama / Qwen2 decoder: token embedding, RMSNorm, RoPE, grouped-query attention (q/k/v bias for
// Qwen2), SwiGLU MLP, tied or separate LM head; float32. Three ways through it:
//  - forwardTrain / backwardTrain: one sequence, activations kept, gradients of Σ g_t·logp_t into the
//    trainable parameters (LoRA adapters, or every weight in full-parameter mode);
//  - prefill + decode: inference with a KV cache, K samples of one prompt decoded as a batch.
import type { ModelConfig, Tensor } from './config.js';
import { rng } from '../random.js';
import { sgemm } from './blas.js';
import {
  attentionBackward,
  attentionForward,
  rmsnormBackward,
  rmsnormForward,
  RopeTable,
  ropeBackward,
  ropeForward,
  swigluBackward,
  swigluForward,
  tokenLogprobsBackward,
  tokenLogprobsForward,
} from './ops.js';

export interface Param {
  name: string;
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
}

export const LINEAR_NAMES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearName = (typeof LINEAR_NAMES)[number];

export interface LoraAdapter {
  A: Param; // [r, in]
  B: Param; // [out, r]
  scale: number; // alpha / r
  dropout: number;
}

export interface Linear {
  name: string;
  out: number;
  in: number;
  w: Float32Array;
  b: Float32Array | null;
  /** Present when the base weight itself trains (full-parameter mode). */
  wGrad: Float32Array | null;
  bGrad: Float32Array | null;
  lora: LoraAdapter | null;
}

interface Layer {
  inNorm: Float32Array;
  inNormGrad: Float32Array | null;
  postNorm: Float32Array;
  postNormGrad: Float32Array | null;
  lin: Record<LinearName, Linear>;
}

/** Per-linear saved state: its input (masked when LoRA dropout is on) and the LoRA hidden x·Aᵀ. */
interface LinSave {
  x: Float32Array;
  /** The dropped-out input the adapter saw, and its keep mask (LoRA dropout). */
  xDrop: Float32Array | null;
  mask: Uint8Array | null;
  h: Float32Array | null;
}

interface LayerSave {
  x: Float32Array;
  xn: Float32Array;
  rstd1: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  P: Float32Array;
  attn: Float32Array;
  x2: Float32Array;
  xn2: Float32Array;
  rstd2: Float32Array;
  g: Float32Array;
  u: Float32Array;
  a: Float32Array;
  lin: Partial<Record<LinearName, LinSave>>;
}

export interface TrainState {
  tokens: number[];
  T: number;
  /** First completion position: logprobs are of tokens[start..T-1]. */
  start: number;
  temperature: number;
  adapter: boolean;
  layers: LayerSave[];
  xFinal: Float32Array;
  hFinal: Float32Array;
  rstdFinal: Float32Array;
}

export interface KvCache {
  batch: number;
  maxLen: number;
  len: number;
  k: Float32Array[]; // per layer [batch, G, maxLen, d]
  v: Float32Array[];
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
  /** Dropout masks need randomness; seeded for reproducible training. */
  private dropRng = rng(1234);
  /**
   * Gradient checkpointing: keep only each layer's input during the forward pass and recompute the
   * layer's activations during the backward pass (about one extra forward, memory down to one layer's).
   */
  checkpointing = false;

  /** Restart the dropout mask sequence (reproducible training; tests). */
  reseedDropout(seed: number): void {
    this.dropRng = rng(seed);
  }

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

  /** Linear y = x·Wᵀ + b (+ LoRA when on); saves what the backward needs when `save`. */
  private linearForward(lin: Linear, x: Float32Array, T: number, y: Float32Array, adapter: boolean, save: Partial<Record<LinearName, LinSave>> | null, key: LinearName): void {
    sgemm(false, true, T, lin.out, lin.in, 1, x, lin.w, 0, y);
    if (lin.b) for (let t = 0; t < T; t++) for (let o = 0; o < lin.out; o++) y[t * lin.out + o]! += lin.b[o]!;
    let entry: LinSave | null = save ? { x, xDrop: null, mask: null, h: null } : null;
    let mask: Uint8Array | null = null;
    if (adapter && lin.lora) {
      const { A, B, scale, dropout } = lin.lora;
      const r = A.shape[0]!;
      let xin = x;
      if (dropout > 0 && save) {
        xin = new Float32Array(x.length);
        mask = new Uint8Array(x.length);
        const keep = 1 / (1 - dropout);
        for (let i = 0; i < x.length; i++) {
          mask[i] = this.dropRng() < dropout ? 0 : 1;
          xin[i] = mask[i] ? x[i]! * keep : 0;
        }
      }
      const h = new Float32Array(T * r);
      sgemm(false, true, T, r, lin.in, 1, xin, A.data, 0, h);
      sgemm(false, true, T, lin.out, r, scale, h, B.data, 1, y);
      if (entry) {
        entry.h = h;
        entry.xDrop = xin === x ? null : xin;
        entry.mask = mask;
      }
    }
    if (save && entry) save[key] = entry;
  }

  /** dx (+=) of a linear, and its parameter gradients. */
  private linearBackward(lin: Linear, dy: Float32Array, T: number, dx: Float32Array, adapter: boolean, s: LinSave): void {
    sgemm(false, false, T, lin.in, lin.out, 1, dy, lin.w, 1, dx);
    if (lin.wGrad) sgemm(true, false, lin.out, lin.in, T, 1, dy, s.x, 1, lin.wGrad);
    if (lin.bGrad) for (let t = 0; t < T; t++) for (let o = 0; o < lin.out; o++) lin.bGrad[o]! += dy[t * lin.out + o]!;
    if (adapter && lin.lora && s.h) {
      const { A, B, scale, dropout } = lin.lora;
      const r = A.shape[0]!;
      // y += scale · h·Bᵀ with h = x'·Aᵀ: dB += scale · dyᵀ·h; dh = scale · dy·B; dA += dhᵀ·x'; dx' = dh·A
      sgemm(true, false, lin.out, r, T, scale, dy, s.h, 1, B.grad);
      const dh = new Float32Array(T * r);
      sgemm(false, false, T, r, lin.out, scale, dy, B.data, 0, dh);
      sgemm(true, false, r, lin.in, T, 1, dh, s.xDrop ?? s.x, 1, A.grad);
      if (dropout > 0 && s.xDrop) {
        const dxl = new Float32Array(T * lin.in);
        sgemm(false, false, T, lin.in, r, 1, dh, A.data, 0, dxl);
        const keep = 1 / (1 - dropout);
        for (let i = 0; i < dxl.length; i++) if (s.mask![i]) dx[i]! += dxl[i]! * keep;
      } else sgemm(false, false, T, lin.in, r, 1, dh, A.data, 1, dx);
    }
  }

  /** One layer over T tokens at positions pos0..; writes K/V into `cache` (slot 0) when given. */
  private layerForward(L: Layer, li: number, x: Float32Array, T: number, pos0: number, adapter: boolean, save: LayerSave | null, cache: KvCache | null): Float32Array {
    const c = this.config;
    const C = c.hiddenSize;
    const H = c.numHeads;
    const G = c.numKvHeads;
    const d = c.headDim;
    const xn = new Float32Array(T * C);
    const rstd1 = new Float32Array(T);
    rmsnormForward(xn, rstd1, x, L.inNorm, T, C, c.rmsNormEps);
    const linSave = save ? save.lin : null;
    const q = new Float32Array(T * H * d);
    const k = new Float32Array(T * G * d);
    const v = new Float32Array(T * G * d);
    this.linearForward(L.lin.q_proj, xn, T, q, adapter, linSave, 'q_proj');
    this.linearForward(L.lin.k_proj, xn, T, k, adapter, linSave, 'k_proj');
    this.linearForward(L.lin.v_proj, xn, T, v, adapter, linSave, 'v_proj');
    ropeForward(q, T, H, this.rope, pos0);
    ropeForward(k, T, G, this.rope, pos0);
    const attn = new Float32Array(T * H * d);
    let P: Float32Array;
    if (cache) {
      // prefill after a cached prefix is not needed: sqlrl prefills whole prompts from position 0
      for (let t = 0; t < T; t++)
        for (let g = 0; g < G; g++) {
          cache.k[li]!.set(k.subarray(t * G * d + g * d, t * G * d + g * d + d), (g * cache.maxLen + pos0 + t) * d);
          cache.v[li]!.set(v.subarray(t * G * d + g * d, t * G * d + g * d + d), (g * cache.maxLen + pos0 + t) * d);
        }
    }
    P = new Float32Array(H * T * T);
    attentionForward(attn, P, q, k, v, T, H, G, d);
    const o = new Float32Array(T * C);
    this.linearForward(L.lin.o_proj, attn, T, o, adapter, linSave, 'o_proj');
    const x2 = new Float32Array(T * C);
    for (let i = 0; i < x2.length; i++) x2[i] = x[i]! + o[i]!;
    const xn2 = new Float32Array(T * C);
    const rstd2 = new Float32Array(T);
    rmsnormForward(xn2, rstd2, x2, L.postNorm, T, C, c.rmsNormEps);
    const I = c.intermediateSize;
    const g = new Float32Array(T * I);
    const u = new Float32Array(T * I);
    this.linearForward(L.lin.gate_proj, xn2, T, g, adapter, linSave, 'gate_proj');
    this.linearForward(L.lin.up_proj, xn2, T, u, adapter, linSave, 'up_proj');
    const a = new Float32Array(T * I);
    swigluForward(a, g, u, T * I);
    const down = new Float32Array(T * C);
    this.linearForward(L.lin.down_proj, a, T, down, adapter, linSave, 'down_proj');
    const x3 = new Float32Array(T * C);
    for (let i = 0; i < x3.length; i++) x3[i] = x2[i]! + down[i]!;
    if (save) Object.assign(save, { x, xn, rstd1, q, k, v, P, attn, x2, xn2, rstd2, g, u, a });
    return x3;
  }

  private embedTokens(tokens: ArrayLike<number>, T: number): Float32Array {
    const C = this.config.hiddenSize;
    const x = new Float32Array(T * C);
    for (let t = 0; t < T; t++) {
      const id = tokens[t]!;
      if (id < 0 || id >= this.config.vocabSize) throw new Error(`token id ${id} outside the vocabulary (${this.config.vocabSize})`);
      x.set(this.embed.subarray(id * C, (id + 1) * C), t * C);
    }
    return x;
  }

  /**
   * Logprobs (at `temperature`) of tokens[start..T-1], each predicted from the tokens before it.
   * With `keep`, the returned state feeds backwardTrain.
   */
  forwardTrain(tokens: number[], start: number, opts: { adapter: boolean; temperature: number; keep: boolean; entropy?: Float32Array }): { logprobs: Float32Array; state: TrainState | null } {
    const c = this.config;
    const T = tokens.length;
    if (start < 1 || start > T) throw new Error(`completion start ${start} outside 1..${T}`);
    if (T > this.rope.maxPos) throw new Error(`sequence of ${T} tokens exceeds the ${this.rope.maxPos} positions this model was set up for`);
    const C = c.hiddenSize;
    let x = this.embedTokens(tokens, T);
    const layers: LayerSave[] = [];
    for (let li = 0; li < this.layers.length; li++) {
      const save = opts.keep ? ({ lin: {} } as LayerSave) : null;
      const input = x;
      x = this.layerForward(this.layers[li]!, li, x, T, 0, opts.adapter, this.checkpointing ? null : save, null);
      if (save) {
        if (this.checkpointing) save.x = input; // the rest is recomputed in backwardTrain
        layers.push(save);
      }
    }
    const n = T - start;
    const h = new Float32Array(T * C);
    const rstd = new Float32Array(T);
    rmsnormForward(h, rstd, x, this.norm, T, C, c.rmsNormEps);
    const logprobs = new Float32Array(n);
    tokenLogprobsForward(logprobs, h.subarray((start - 1) * C, (T - 1) * C), this.lmHead, tokens.slice(start), n, C, c.vocabSize, opts.temperature, opts.entropy);
    const state: TrainState | null = opts.keep ? { tokens, T, start, temperature: opts.temperature, adapter: opts.adapter, layers, xFinal: x, hFinal: h, rstdFinal: rstd } : null;
    return { logprobs, state };
  }

  /** Accumulates gradients of Σ_t g_t · logp_t (g over the completion tokens) into the trainable parameters. */
  backwardTrain(state: TrainState, g: Float32Array): void {
    const c = this.config;
    const { T, start } = state;
    const C = c.hiddenSize;
    const H = c.numHeads;
    const G = c.numKvHeads;
    const d = c.headDim;
    const I = c.intermediateSize;
    const n = T - start;
    if (g.length !== n) throw new Error(`gradient has ${g.length} entries for ${n} completion tokens`);
    const dh = new Float32Array(T * C);
    tokenLogprobsBackward(dh.subarray((start - 1) * C, (T - 1) * C), this.lmHeadGrad, g, state.hFinal.subarray((start - 1) * C, (T - 1) * C), this.lmHead, state.tokens.slice(start), n, C, c.vocabSize, state.temperature);
    let dx = new Float32Array(T * C);
    rmsnormBackward(dx, this.normGrad, dh, state.xFinal, this.norm, state.rstdFinal, T, C);
    const adapter = state.adapter;
    for (let li = this.layers.length - 1; li >= 0; li--) {
      const L = this.layers[li]!;
      let s = state.layers[li]!;
      if (!s.xn) {
        // checkpointed: recompute this layer's activations from its saved input (same dropout masks
        // are not guaranteed, so checkpointing requires lora dropout 0)
        const full = { lin: {} } as LayerSave;
        this.layerForward(L, li, s.x, T, 0, adapter, full, null);
        s = full;
      }
      // x3 = x2 + down(a)
      const da = new Float32Array(T * I);
      this.linearBackward(L.lin.down_proj, dx, T, da, adapter, s.lin.down_proj!);
      const dg = new Float32Array(T * I);
      const du = new Float32Array(T * I);
      swigluBackward(dg, du, da, s.g, s.u, T * I);
      const dxn2 = new Float32Array(T * C);
      this.linearBackward(L.lin.gate_proj, dg, T, dxn2, adapter, s.lin.gate_proj!);
      this.linearBackward(L.lin.up_proj, du, T, dxn2, adapter, s.lin.up_proj!);
      const dx2 = dx; // residual: dx2 = dx3 + norm path
      rmsnormBackward(dx2, L.postNormGrad, dxn2, s.x2, L.postNorm, s.rstd2, T, C);
      // x2 = x + o_proj(attn)
      const dattn = new Float32Array(T * H * d);
      this.linearBackward(L.lin.o_proj, dx2, T, dattn, adapter, s.lin.o_proj!);
      const dq = new Float32Array(T * H * d);
      const dk = new Float32Array(T * G * d);
      const dv = new Float32Array(T * G * d);
      attentionBackward(dq, dk, dv, dattn, s.P, s.q, s.k, s.v, T, H, G, d);
      ropeBackward(dq, T, H, this.rope, 0);
      ropeBackward(dk, T, G, this.rope, 0);
      const dxn = new Float32Array(T * C);
      this.linearBackward(L.lin.q_proj, dq, T, dxn, adapter, s.lin.q_proj!);
      this.linearBackward(L.lin.k_proj, dk, T, dxn, adapter, s.lin.k_proj!);
      this.linearBackward(L.lin.v_proj, dv, T, dxn, adapter, s.lin.v_proj!);
      rmsnormBackward(dx2, L.inNormGrad, dxn, s.x, L.inNorm, s.rstd1, T, C);
      dx = dx2;
    }
    if (this.embedGrad) {
      for (let t = 0; t < T; t++) {
        const id = state.tokens[t]!;
        const row = this.embedGrad.subarray(id * C, (id + 1) * C);
        for (let i = 0; i < C; i++) row[i]! += dx[t * C + i]!;
      }
    }
  }

  // ------------------------------------------------------------------ inference with a KV cache

  newCache(batch: number, maxLen: number): KvCache {
    const c = this.config;
    const size = batch * c.numKvHeads * maxLen * c.headDim;
    return { batch, maxLen, len: 0, k: this.layers.map(() => new Float32Array(size)), v: this.layers.map(() => new Float32Array(size)) };
  }

  /** Runs the prompt through the model into slot 0 of `cache`; returns the last position's final hidden state. */
  prefill(tokens: number[], cache: KvCache, adapter: boolean): Float32Array {
    const c = this.config;
    const T = tokens.length;
    if (T > cache.maxLen || T > this.rope.maxPos) throw new Error(`prompt of ${T} tokens exceeds the context (${Math.min(cache.maxLen, this.rope.maxPos)})`);
    let x = this.embedTokens(tokens, T);
    for (let li = 0; li < this.layers.length; li++) x = this.layerForward(this.layers[li]!, li, x, T, 0, adapter, null, cache);
    cache.len = T;
    const C = c.hiddenSize;
    const h = new Float32Array(C);
    rmsnormForward(h, new Float32Array(1), x.subarray((T - 1) * C), this.norm, 1, C, c.rmsNormEps);
    return h;
  }

  /** Copies slot 0's cache (the shared prompt) into every other slot. */
  broadcastPrompt(cache: KvCache): void {
    const c = this.config;
    const slot = c.numKvHeads * cache.maxLen * c.headDim;
    for (let li = 0; li < this.layers.length; li++)
      for (let b = 1; b < cache.batch; b++) {
        cache.k[li]!.copyWithin(b * slot, 0, slot);
        cache.v[li]!.copyWithin(b * slot, 0, slot);
      }
  }

  /** Logits [B, V] of the final hidden states [B, C]. */
  logits(h: Float32Array, B: number, out: Float32Array): void {
    const c = this.config;
    sgemm(false, true, B, c.vocabSize, c.hiddenSize, 1, h, this.lmHead, 0, out);
  }

  /** One decode step for the B sequences of `cache`, all at position cache.len; returns final hidden states [B, C]. */
  decode(tokens: number[], cache: KvCache, adapter: boolean): Float32Array {
    const c = this.config;
    const B = tokens.length;
    const C = c.hiddenSize;
    const H = c.numHeads;
    const G = c.numKvHeads;
    const d = c.headDim;
    const I = c.intermediateSize;
    const pos = cache.len;
    if (pos >= cache.maxLen || pos >= this.rope.maxPos) throw new Error(`sequence reached the context limit (${cache.maxLen})`);
    let x = this.embedTokens(tokens, B);
    const xn = new Float32Array(B * C);
    const rstd = new Float32Array(B);
    const q = new Float32Array(B * H * d);
    const k = new Float32Array(B * G * d);
    const v = new Float32Array(B * G * d);
    const attn = new Float32Array(B * H * d);
    const o = new Float32Array(B * C);
    const g = new Float32Array(B * I);
    const u = new Float32Array(B * I);
    const L1 = pos + 1;
    const scores = new Float32Array(L1);
    const scale = 1 / Math.sqrt(d);
    for (let li = 0; li < this.layers.length; li++) {
      const L = this.layers[li]!;
      rmsnormForward(xn, rstd, x, L.inNorm, B, C, c.rmsNormEps);
      this.linearForward(L.lin.q_proj, xn, B, q, adapter, null, 'q_proj');
      this.linearForward(L.lin.k_proj, xn, B, k, adapter, null, 'k_proj');
      this.linearForward(L.lin.v_proj, xn, B, v, adapter, null, 'v_proj');
      for (let b = 0; b < B; b++) {
        ropeForward(q.subarray(b * H * d, (b + 1) * H * d), 1, H, this.rope, pos);
        ropeForward(k.subarray(b * G * d, (b + 1) * G * d), 1, G, this.rope, pos);
      }
      const Kc = cache.k[li]!;
      const Vc = cache.v[li]!;
      for (let b = 0; b < B; b++)
        for (let gi = 0; gi < G; gi++) {
          const base = ((b * G + gi) * cache.maxLen + pos) * d;
          Kc.set(k.subarray((b * G + gi) * d, (b * G + gi + 1) * d), base);
          Vc.set(v.subarray((b * G + gi) * d, (b * G + gi + 1) * d), base);
        }
      const rep = H / G;
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++) {
          const gi = Math.floor(h / rep);
          const kb = Kc.subarray((b * G + gi) * cache.maxLen * d, ((b * G + gi) * cache.maxLen + L1) * d);
          const vb = Vc.subarray((b * G + gi) * cache.maxLen * d, ((b * G + gi) * cache.maxLen + L1) * d);
          const qh = q.subarray((b * H + h) * d, (b * H + h + 1) * d);
          // scores = K·q (one row of q against L1 cached keys)
          sgemm(false, true, 1, L1, d, scale, qh, kb, 0, scores);
          let max = -Infinity;
          for (let j = 0; j < L1; j++) if (scores[j]! > max) max = scores[j]!;
          let sum = 0;
          for (let j = 0; j < L1; j++) {
            const e = Math.exp(scores[j]! - max);
            scores[j] = e;
            sum += e;
          }
          for (let j = 0; j < L1; j++) scores[j]! /= sum;
          sgemm(false, false, 1, d, L1, 1, scores, vb, 0, attn.subarray((b * H + h) * d, (b * H + h + 1) * d));
        }
      this.linearForward(L.lin.o_proj, attn, B, o, adapter, null, 'o_proj');
      for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
      rmsnormForward(xn, rstd, x, L.postNorm, B, C, c.rmsNormEps);
      this.linearForward(L.lin.gate_proj, xn, B, g, adapter, null, 'gate_proj');
      this.linearForward(L.lin.up_proj, xn, B, u, adapter, null, 'up_proj');
      swigluForward(g, g, u, B * I);
      this.linearForward(L.lin.down_proj, g, B, o, adapter, null, 'down_proj');
      for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
    }
    cache.len = pos + 1;
    const h = new Float32Array(B * C);
    rmsnormForward(h, rstd, x, this.norm, B, C, c.rmsNormEps);
    return h;
  }

  /** The LoRA adapters (when attached) or every linear. */
  linears(): Linear[] {
    return this.layers.flatMap((L) => LINEAR_NAMES.map((n) => L.lin[n]));
  }
}
