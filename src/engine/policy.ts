// CpuPolicy: the CPU engine behind rl/'s Policy seam. Samples K completions of a prompt as one batch
// (the prompt's KV computed once and shared), recomputes logprobs with the adapter on (policy) or off
// (reference, no second copy of the weights), backpropagates per-token weights, and steps AdamW.
import type { Policy, Sample, SampleOptions, Sequence } from '../interfaces/policy.js';
import type { ModelConfig } from './config.js';
import { blasDescription } from './blas.js';
import { loadModel, type LoadedModel } from './io/load.js';
import { attachLora, DEFAULT_LORA, loadLora, saveLora, type LoraConfig } from './lora.js';
import { rng } from '../random.js';
import { CausalLM, type Param } from './model.js';
import { AdamW, ADAMW_DEFAULTS, clipGradNorm, type AdamWOptions } from './optim.js';
import { chooseToken } from './sample.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from './io/safetensors.js';
import type { ChatTokenizer } from './tokenizer.js';

export interface CpuPolicyOptions {
  /** Train LoRA adapters (default) or every weight ('full', for small models trained from scratch); null = inference only. */
  train?: { kind: 'lora'; lora: LoraConfig } | { kind: 'full' } | null;
  /** Load an existing PEFT adapter (trainable when train.kind is 'lora'). */
  adapterDir?: string;
  optimizer?: Partial<AdamWOptions>;
  /** Global-norm gradient clipping in step() (≤ 0: off). */
  maxGradNorm?: number;
  seed?: number;
  /** Longest prompt + completion (default: min(model limit, 4096)). */
  maxPositions?: number;
  /** Recompute each layer's activations in the backward pass instead of keeping them (memory for time). */
  gradientCheckpointing?: boolean;
}

export class CpuPolicy implements Policy {
  readonly tokenizer: ChatTokenizer;
  readonly params: Param[];
  readonly optimizer: AdamW | null;
  private lr: number;
  private readonly seedBase: number;
  private sampleCalls = 0;

  private constructor(
    readonly model: CausalLM,
    readonly loaded: Pick<LoadedModel, 'config' | 'tokenizer' | 'source'>,
    private readonly opts: CpuPolicyOptions,
    params: Param[],
    readonly lora: LoraConfig | null,
  ) {
    this.tokenizer = loaded.tokenizer;
    this.params = params;
    this.optimizer = params.length ? new AdamW(params, { ...ADAMW_DEFAULTS, ...opts.optimizer }) : null;
    this.lr = this.optimizer?.opts.lr ?? 0;
    this.seedBase = opts.seed ?? 0;
  }

  static async load(spec: string, opts: CpuPolicyOptions = {}): Promise<CpuPolicy> {
    return CpuPolicy.fromLoaded(await loadModel(spec), opts);
  }

  static fromLoaded(loaded: LoadedModel, opts: CpuPolicyOptions = {}): CpuPolicy {
    const model = new CausalLM(loaded.config, loaded.weights, opts.maxPositions ? { maxPositions: opts.maxPositions } : {});
    let params: Param[] = [];
    let lora: LoraConfig | null = null;
    if (opts.adapterDir) {
      const got = loadLora(opts.adapterDir, model);
      lora = got.config;
      if (opts.train?.kind === 'lora') params = got.params;
    } else if (opts.train?.kind === 'lora') {
      lora = opts.train.lora ?? DEFAULT_LORA;
      params = attachLora(model, lora, opts.seed ?? 0);
    }
    if (opts.train?.kind === 'full') params = model.enableFullTraining();
    if (opts.gradientCheckpointing) {
      if (lora && lora.dropout > 0) throw new Error('gradient checkpointing needs lora dropout 0 (the recomputed pass would draw other dropout masks)');
      model.checkpointing = true;
    }
    return new CpuPolicy(model, loaded, opts, params, lora);
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  describe(): string {
    const c = this.config;
    const n = this.params.reduce((s, p) => s + p.data.length, 0);
    return `${c.architecture} ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}; trainable ${n.toLocaleString('en')} (${this.opts.train?.kind ?? 'none'}); BLAS: ${blasDescription()}`;
  }

  setLearningRate(lr: number): void {
    this.lr = lr;
  }

  async sample(prompt: number[], n: number, opts: SampleOptions): Promise<Sample[]> {
    const random = rng((opts.seed ?? this.seedBase * 7919 + this.sampleCalls++) >>> 0);
    const maxLen = Math.min(prompt.length + opts.maxNewTokens, this.model.rope.maxPos);
    let cache = this.model.newCache(n, maxLen);
    const h0 = this.model.prefill(prompt, cache, true);
    this.model.broadcastPrompt(cache);
    const V = this.config.vocabSize;
    const C = this.config.hiddenSize;
    const eos = new Set(this.tokenizer.eosTokenIds);
    const out: Sample[] = Array.from({ length: n }, () => ({ tokens: [], logprobs: new Float32Array(0), text: '', finishReason: 'length' as const }));
    const lps: number[][] = Array.from({ length: n }, () => []);
    let active = Array.from({ length: n }, (_, i) => i);
    let hidden: Float32Array = new Float32Array(n * C);
    for (let b = 0; b < n; b++) hidden.set(h0, b * C);
    const logits = new Float32Array(n * V);
    const stops = opts.stopStrings?.filter((s) => s.length > 0) ?? [];
    for (let step = 0; step < opts.maxNewTokens && active.length > 0; step++) {
      const B = active.length;
      this.model.logits(hidden, B, logits);
      const next: number[] = [];
      const stillActive: number[] = [];
      const keepSlots: number[] = [];
      active.forEach((seq, slot) => {
        const choice = chooseToken(logits.subarray(slot * V, (slot + 1) * V), opts, random);
        const s = out[seq]!;
        s.tokens.push(choice.token);
        lps[seq]!.push(choice.logprob);
        if (eos.has(choice.token)) {
          s.finishReason = 'eos';
          return;
        }
        if (stops.length) {
          const text = this.tokenizer.decode(s.tokens, { skipSpecialTokens: false });
          if (stops.some((st) => text.includes(st))) {
            s.finishReason = 'stop';
            return;
          }
        }
        if (cache.len + 1 >= maxLen) return; // out of context: 'length'
        stillActive.push(seq);
        keepSlots.push(slot);
        next.push(choice.token);
      });
      if (!stillActive.length) break;
      if (stillActive.length < B) cache = this.compact(cache, keepSlots);
      active = stillActive;
      hidden = this.model.decode(next, cache, true);
    }
    return out.map((s, i) => {
      let text = this.tokenizer.decode(s.tokens, { skipSpecialTokens: true });
      if (s.finishReason === 'stop') {
        const at = Math.min(...stops.map((st) => text.indexOf(st)).filter((x) => x >= 0));
        text = text.slice(0, at);
      }
      return { ...s, logprobs: Float32Array.from(lps[i]!), text };
    });
  }

  /** A cache holding only the given slots (finished sequences stop costing compute). */
  private compact(cache: ReturnType<CausalLM['newCache']>, slots: number[]) {
    const c = this.config;
    const next = this.model.newCache(slots.length, cache.maxLen);
    next.len = cache.len;
    const slot = c.numKvHeads * cache.maxLen * c.headDim;
    for (let li = 0; li < c.numLayers; li++)
      slots.forEach((s, j) => {
        next.k[li]!.set(cache.k[li]!.subarray(s * slot, (s + 1) * slot), j * slot);
        next.v[li]!.set(cache.v[li]!.subarray(s * slot, (s + 1) * slot), j * slot);
      });
    return next;
  }

  async logprobs(seqs: Sequence[], opts: { adapter?: boolean; temperature?: number } = {}): Promise<Float32Array[]> {
    return seqs.map((s) => {
      if (!s.completion.length) return new Float32Array(0);
      return this.model.forwardTrain([...s.prompt, ...s.completion], s.prompt.length, { adapter: opts.adapter ?? true, temperature: opts.temperature ?? 1, keep: false }).logprobs;
    });
  }

  /** Per-token entropies of the policy's distribution over a completion (metrics). */
  async entropy(seq: Sequence, temperature = 1): Promise<Float32Array> {
    const entropy = new Float32Array(seq.completion.length);
    if (seq.completion.length) this.model.forwardTrain([...seq.prompt, ...seq.completion], seq.prompt.length, { adapter: true, temperature, keep: false, entropy });
    return entropy;
  }

  async saveCheckpoint(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    writeSafetensors(join(dir, 'trainable.safetensors'), new Map(this.params.map((p) => [p.name, { shape: p.shape, data: p.data }])));
    this.optimizer?.save(dir);
  }

  async loadCheckpoint(dir: string): Promise<void> {
    const st = new SafetensorsFile(join(dir, 'trainable.safetensors'));
    try {
      for (const p of this.params) {
        if (!st.entries.has(p.name)) throw new Error(`checkpoint ${dir} lacks '${p.name}' (was it written by a run with the same model and adapter settings?)`);
        p.data.set(st.read(p.name).data);
      }
    } finally {
      st.close();
    }
    this.optimizer?.load(dir);
  }

  async backward(seqs: Sequence[], dLogprob: Float32Array[], opts: { temperature?: number } = {}): Promise<Float32Array[]> {
    if (!this.params.length) throw new Error('this policy has no trainable parameters (load it with train: lora or full)');
    return seqs.map((s, i) => {
      const g = dLogprob[i]!;
      if (!s.completion.length) return new Float32Array(0);
      const { logprobs, state } = this.model.forwardTrain([...s.prompt, ...s.completion], s.prompt.length, { adapter: true, temperature: opts.temperature ?? 1, keep: !g.every((x) => x === 0) });
      if (state) this.model.backwardTrain(state, g);
      return logprobs;
    });
  }

  step(): number {
    if (!this.optimizer) throw new Error('this policy has no trainable parameters');
    const norm = clipGradNorm(this.params, this.opts.maxGradNorm ?? 1.0);
    this.optimizer.update(this.lr);
    this.optimizer.zeroGrad();
    return norm;
  }

  zeroGrad(): void {
    this.optimizer?.zeroGrad();
  }

  /** LoRA: a PEFT adapter folder. Full training: the whole model in Hugging Face layout. */
  async save(dir: string): Promise<void> {
    if (this.opts.train?.kind === 'full') {
      const { saveHfModel } = await import('./io/save.js');
      saveHfModel(dir, this.model, this.tokenizer);
      return;
    }
    if (!this.lora) throw new Error('nothing to save: no adapter');
    saveLora(dir, this.model, this.lora, this.loaded.source.path);
  }
}
