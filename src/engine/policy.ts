// CpuPolicy: the CPU engine behind the Policy seam. Sampling prefills each prompt once and decodes every
// sequence of every group as one batch; logprobs and backward pack groups into batches where each prompt
// is computed once for its K completions, and reuse the prompt computed during sampling when the weights
// have not changed since (the usual GRPO step: sample, score, update) — and, in the backward, the
// completions as the decode computed them (CompletionCache). The reference policy is the base
// model with the adapter off, or, in full-parameter training, a frozen copy of the initial weights.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Group, Policy, Sample, SampleOptions, SampleRequest } from '../interfaces/policy.js';
import { rng } from '../random.js';
import { packGroups, type GroupInput } from './batch.js';
import { blasDescription } from './blas.js';
import type { ModelConfig } from './config.js';
import { SafetensorsFile, writeSafetensors } from './io/safetensors.js';
import { loadModel, type LoadedModel } from './io/load.js';
import { attachLora, DEFAULT_LORA, loadLora, saveLora, type LoraConfig } from './lora.js';
import { CausalLM, type CompletionState, type DecodeSeq, type Keep, type Param, type PrefixState } from './model.js';
import { AdamW, ADAMW_DEFAULTS, clipGradNorm, type AdamWOptions } from './optim.js';
import { CompletionCache } from './completion-cache.js';
import { PrefixCache } from './prefix-cache.js';
import { planSharedPrefixes } from './shared-prefix.js';
import { chooseToken } from './sample.js';
import type { ChatTokenizer } from './tokenizer.js';
import { rowKernels } from './wasm/rows.js';

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
  /**
   * Keep only each layer's input in the training forward and recompute its activations in the backward
   * (memory for time). 'auto' (default): on when keeping every activation would take more than
   * `activationBudgetBytes`, and always when reusing a prompt computed during sampling.
   */
  gradientCheckpointing?: boolean | 'auto';
  activationBudgetBytes?: number;
  /** Full-parameter training: keep a frozen copy of the initial weights as the reference policy (KL, beta > 0). */
  frozenReference?: boolean;
  /** Bytes of prompts kept from sampling for the update (default 1 GiB), and as many again of completions. */
  prefixCacheBytes?: number;
  /**
   * Inference: compute prompts that begin alike from their shared beginning (default true): every
   * question on one database starts with the same schema, so an evaluation prefills each schema about
   * once. Never in training (see prefixesOf).
   */
  sharePrefixes?: boolean;
  /** Shortest shared beginning worth computing apart (tokens, default 64). */
  minSharedPrefix?: number;
  /** Rows per packed batch in logprobs/backward (groups are never split). */
  maxBatchRows?: number;
  /**
   * Every completion with its own copy of the prompt, nothing reused (what the engine did before groups;
   * kept for benchmarks that measure the difference).
   */
  perSequence?: boolean;
}

const MiB = 2 ** 20;

export class CpuPolicy implements Policy {
  readonly tokenizer: ChatTokenizer;
  readonly params: Param[];
  readonly optimizer: AdamW | null;
  private lr: number;
  private readonly seedBase: number;
  /** Bumped whenever the weights change: prompts kept from an older version are not reused. */
  private version = 0;
  private readonly prefixes: PrefixCache;
  private readonly completions: CompletionCache;
  private readonly reference: CausalLM | null;

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
    this.prefixes = new PrefixCache(opts.prefixCacheBytes ?? 1024 * MiB);
    this.completions = new CompletionCache(opts.prefixCacheBytes ?? 1024 * MiB);
    this.reference = opts.train?.kind === 'full' && opts.frozenReference ? model.frozenCopy() : null;
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
    return new CpuPolicy(model, loaded, opts, params, lora);
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  describe(): string {
    const c = this.config;
    const n = this.params.reduce((s, p) => s + p.data.length, 0);
    const rows = rowKernels();
    const kernels = rows.kind === 'wasm' ? '' : `; elementwise passes: scalar TypeScript (${rows.reason})`;
    return `${c.architecture} ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}; trainable ${n.toLocaleString('en')} (${this.opts.train?.kind ?? 'none'}); BLAS: ${blasDescription()}${kernels}`;
  }

  setLearningRate(lr: number): void {
    this.lr = lr;
  }

  private get dropout(): number {
    return this.lora?.dropout ?? 0;
  }

  /**
   * Prompts' prefixes under the current weights: from the cache, or computed and cached (an update, or
   * an evaluation's sampled pass right after its greedy one, reuses them). Prompts that begin alike
   * (one database's schema) are computed from their shared beginning: it once, then each prompt's rest.
   */
  private prefixesOf(prompts: number[][], adapter: boolean): PrefixState[] {
    const out = prompts.map((p) => this.prefixes.get(p, adapter, this.version));
    const missing = [...new Map(prompts.filter((_, i) => !out[i]).map((p) => [p.join(','), p])).values()];
    if (!missing.length) return out as PrefixState[];
    const training = this.params.length > 0 && !this.opts.perSequence;
    const keep = training && this.dropout === 0;
    const made = new Map<string, PrefixState>();
    const keepState = (st: PrefixState) => {
      made.set(Array.prototype.join.call(st.prompt, ','), st);
      if (!this.opts.perSequence) this.prefixes.put(st, this.version);
    };
    // Inference only (evaluation, serving): a prompt computed from a shared beginning equals its whole
    // prefill only up to the last float bits, and which beginning it gets depends on the batch and on
    // what earlier calls left in the cache; a training run must give the same metrics whether or not it
    // was resumed in between (and GRPO's groups already share their prompt).
    const share = !this.opts.perSequence && this.opts.sharePrefixes !== false && this.params.length === 0;
    const minShared = this.opts.minSharedPrefix ?? 64;
    // a kept prompt that begins this one (an earlier batch of the same database's questions)
    const base: (PrefixState | number[] | null)[] = missing.map((p) => (share ? this.prefixes.longestPrefix(p, adapter, this.version, minShared) : null));
    // prompts of this batch that begin alike: their shared beginning computed once
    const rest = missing.flatMap((_, i) => (base[i] ? [] : [i]));
    if (share)
      for (const cl of planSharedPrefixes(rest.map((i) => missing[i]!), minShared)) {
        const head = missing[rest[cl.members[0]!]!]!.slice(0, cl.shared);
        for (const m of cl.members) base[rest[m]!] = head;
      }
    const heads = [...new Map(base.filter((b): b is number[] => Array.isArray(b)).map((h) => [h.join(','), h])).values()];
    const whole = missing.filter((_, i) => !base[i]);
    for (const pass of this.passes([...heads, ...whole].map((p) => ({ unit: { prompt: p, completions: [] } }))))
      this.model.prefillMany(pass.map((u) => u.unit.prompt), adapter, keep).forEach(keepState);
    const extend = missing.flatMap((p, i) => {
      const b = base[i];
      if (!b) return [];
      const st = Array.isArray(b) ? made.get(b.join(','))! : b;
      return [{ base: st, suffix: p.slice(st.prompt.length) }];
    });
    // passes of the row budget, counting the rows computed: the suffixes
    for (const pass of this.passes(extend.map((it) => ({ unit: { prompt: it.suffix, completions: [] }, it }))))
      this.model.extendMany(pass.map((u) => u.it), keep).forEach(keepState);
    return prompts.map((p, i) => out[i] ?? made.get(p.join(','))!);
  }

  async sample(requests: SampleRequest[], opts: SampleOptions): Promise<Sample[][]> {
    if (this.opts.perSequence && requests.length > 1) {
      const out: Sample[][] = [];
      for (const r of requests) out.push(...(await this.sample([r], opts)));
      return out;
    }
    const V = this.config.vocabSize;
    const maxPos = this.model.rope.maxPos;
    const eos = new Set(this.tokenizer.eosTokenIds);
    const stops = opts.stopStrings?.filter((s) => s.length > 0) ?? [];
    interface Seq {
      group: number;
      slot: number;
      prefix: PrefixState;
      random: () => number;
      maxNew: number;
      tokens: number[];
      logprobs: number[];
      entropy: number[];
      finish: Sample['finishReason'];
    }
    const seqs: Seq[] = [];
    const logits = new Float32Array(V);
    for (const r of requests) if (r.prompt.length >= maxPos) throw new Error(`prompt of ${r.prompt.length} tokens leaves no room to generate within the ${maxPos} positions this model was set up for`);
    const prefixes = this.prefixesOf(
      requests.map((r) => r.prompt),
      true,
    );
    requests.forEach((r, gi) => {
      const prefix = prefixes[gi]!;
      const random = rng(r.seed >>> 0);
      const maxNew = Math.min(opts.maxNewTokens, maxPos - r.prompt.length);
      for (let i = 0; i < r.n; i++) seqs.push({ group: gi, slot: seqs.length, prefix, random, maxNew, tokens: [], logprobs: [], entropy: [], finish: 'length' });
    });
    // Each step: choose the next token of every live sequence from its logits, then decode them as one batch.
    const choose = (s: Seq, row: Float32Array): boolean => {
      const c = chooseToken(row, opts, s.random);
      s.tokens.push(c.token);
      s.logprobs.push(c.logprob);
      s.entropy.push(c.entropy);
      if (eos.has(c.token)) {
        s.finish = 'eos';
        return false;
      }
      // a stop string can only have appeared in the text of the last few tokens (decoding the whole
      // sequence every step made long generations quadratic)
      if (stops.length && stops.some((st) => this.tokenizer.decode(s.tokens.slice(-(st.length + 2)), { skipSpecialTokens: false }).includes(st))) {
        s.finish = 'stop';
        return false;
      }
      return s.tokens.length < s.maxNew;
    };
    let live: Seq[] = [];
    for (let gi = 0; gi < requests.length; gi++) {
      const group = seqs.filter((s) => s.group === gi);
      if (!group.length || group[0]!.maxNew <= 0) continue;
      this.model.logits(this.model.prefixHidden(group[0]!.prefix), 1, logits);
      for (const s of group) if (choose(s, logits)) live.push(s);
    }
    const maxNew = Math.max(0, ...seqs.map((s) => s.maxNew));
    // samples for the update keep what the decode computes for it (see CompletionCache)
    const keepStates = opts.forUpdate === true && this.params.length > 0 && this.dropout === 0 && !this.opts.perSequence && this.model.completionStateBytes(seqs.length, maxNew) <= this.completions.budgetBytes;
    const cache = live.length ? this.model.newDecodeCache(seqs.length, maxNew, keepStates) : null;
    const stepLogits = new Float32Array(seqs.length * V);
    while (live.length && cache) {
      const B = live.length;
      const step: DecodeSeq[] = live.map((s) => ({ prefix: s.prefix, slot: s.slot, t: s.tokens.length - 1 }));
      const hidden = this.model.decodeStep(
        live.map((s) => s.tokens[s.tokens.length - 1]!),
        step,
        cache,
        true,
      );
      this.model.logits(hidden, B, stepLogits);
      live = live.filter((s, b) => choose(s, stepLogits.subarray(b * V, (b + 1) * V)));
    }
    // every token but the last was fed to the decode
    if (cache?.x) for (const s of seqs) this.completions.put(s.prefix.prompt, s.tokens, this.version, this.model.completionState(cache, s.slot, s.tokens.length - 1));
    return requests.map((_, gi) =>
      seqs
        .filter((s) => s.group === gi)
        .map((s) => {
          let text = this.tokenizer.decode(s.tokens, { skipSpecialTokens: true });
          if (s.finish === 'stop') {
            const at = Math.min(...stops.map((st) => text.indexOf(st)).filter((x) => x >= 0));
            if (Number.isFinite(at)) text = text.slice(0, at);
          }
          return { tokens: s.tokens, logprobs: Float32Array.from(s.logprobs), entropy: Float32Array.from(s.entropy), text, finishReason: s.finish };
        }),
    );
  }

  /** Groups as the engine runs them: one per completion in per-sequence mode. */
  private units(groups: Group[]): { unit: GroupInput; group: number; first: number }[] {
    if (!this.opts.perSequence) return groups.map((g, i) => ({ unit: g, group: i, first: 0 }));
    return groups.flatMap((g, i) => g.completions.map((c, k) => ({ unit: { prompt: g.prompt, completions: [c] }, group: i, first: k })));
  }

  /** Consecutive units packed up to the row budget. */
  private passes<T extends { unit: GroupInput }>(units: T[]): T[][] {
    const budget = this.opts.maxBatchRows ?? 4096;
    const out: T[][] = [];
    let cur: T[] = [];
    let rows = 0;
    for (const u of units) {
      const r = u.unit.prompt.length + u.unit.completions.reduce((a, c) => a + Math.max(0, c.length - 1), 0);
      if (cur.length && rows + r > budget) {
        out.push(cur);
        cur = [];
        rows = 0;
      }
      cur.push(u);
      rows += r;
    }
    if (cur.length) out.push(cur);
    return out;
  }

  /** Kept prompts for every unit of a pass, or null (then the pass computes its prompts). */
  private keptPrefixes(units: { unit: GroupInput }[], adapter: boolean, needInputs: boolean): PrefixState[] | null {
    if (this.opts.perSequence) return null;
    const got = units.map((u) => this.prefixes.get(u.unit.prompt, adapter, this.version));
    return got.every((p): p is PrefixState => p !== null && (!needInputs || p.x !== null)) ? got : null;
  }

  /** Kept decode states of every completion of a pass (in batch order), or null. */
  private keptCompletions(units: { unit: GroupInput }[]): CompletionState[] | null {
    const out: CompletionState[] = [];
    for (const u of units)
      for (const c of u.unit.completions) {
        const st = this.completions.get(u.unit.prompt, c, this.version);
        if (!st) return null;
        out.push(st);
      }
    return out;
  }

  /** Slices a pass's flat logprobs into `out` per completion; returns the next offset. */
  private split(out: Float32Array[][], u: { group: number; first: number; unit: GroupInput }, flat: Float32Array, pred: number): number {
    u.unit.completions.forEach((c, k) => {
      out[u.group]![u.first + k] = flat.slice(pred, pred + c.length);
      pred += c.length;
    });
    return pred;
  }

  async logprobs(groups: Group[], opts: { reference?: boolean; temperature?: number } = {}): Promise<Float32Array[][]> {
    const out = groups.map((g) => g.completions.map(() => new Float32Array(0)));
    const model = opts.reference && this.opts.train?.kind === 'full' ? this.reference : this.model;
    if (!model) throw new Error('no reference policy: full-parameter training keeps one only when created with frozenReference');
    const adapter = !opts.reference;
    for (const pass of this.passes(this.units(groups))) {
      const kept = model === this.model ? this.keptPrefixes(pass, adapter, false) : null;
      const { logprobs } = model.forward(packGroups(pass.map((u) => u.unit)), { adapter, temperature: opts.temperature ?? 1, keep: 'none', ...(kept ? { prefixes: kept } : {}) });
      let pred = 0;
      for (const u of pass) pred = this.split(out, u, logprobs, pred);
    }
    return out;
  }

  /** What the training forward keeps for the backward (see gradientCheckpointing). */
  private keepFor(rows: number, reusing: boolean): Keep {
    const setting = this.opts.gradientCheckpointing ?? 'auto';
    if (reusing || setting === true) return 'inputs';
    if (setting === false) return 'all';
    const c = this.config;
    const perRow = 4 * (5 * c.hiddenSize + 2 * c.numHeads * c.headDim + 2 * c.numKvHeads * c.headDim + 3 * c.intermediateSize);
    return rows * c.numLayers * perRow > (this.opts.activationBudgetBytes ?? 2048 * MiB) ? 'inputs' : 'all';
  }

  async backward(groups: Group[], dLogprob: Float32Array[][], opts: { temperature?: number } = {}): Promise<Float32Array[][]> {
    if (!this.params.length) throw new Error('this policy has no trainable parameters (load it with train: lora or full)');
    const out = groups.map((g) => g.completions.map(() => new Float32Array(0)));
    const units = this.units(groups);
    for (const pass of this.passes(units)) {
      const batch = packGroups(pass.map((u) => u.unit));
      const dropSeed = this.dropout > 0 ? this.model.nextDropSeed() : null;
      const kept = dropSeed === null ? this.keptPrefixes(pass, true, true) : null;
      const decoded = kept ? this.keptCompletions(pass) : null;
      const { tape } = this.model.forward(batch, { logprobs: false, adapter: true, temperature: opts.temperature ?? 1, keep: this.keepFor(batch.rows, kept !== null), dropSeed, ...(kept ? { prefixes: kept } : {}), ...(decoded ? { completions: decoded } : {}) });
      const g = new Float32Array(batch.targets.length);
      let pred = 0;
      for (const u of pass)
        u.unit.completions.forEach((c, k) => {
          const d = dLogprob[u.group]![u.first + k]!;
          if (d.length !== c.length) throw new Error(`gradient has ${d.length} entries for a completion of ${c.length} tokens`);
          g.set(d, pred);
          pred += c.length;
        });
      const logprobs = this.model.backward(tape!, g);
      pred = 0;
      for (const u of pass) pred = this.split(out, u, logprobs, pred);
    }
    return out;
  }

  step(): number {
    if (!this.optimizer) throw new Error('this policy has no trainable parameters');
    const norm = clipGradNorm(this.params, this.opts.maxGradNorm ?? 1.0);
    this.optimizer.update(this.lr);
    this.optimizer.zeroGrad();
    this.weightsChanged();
    return norm;
  }

  endUpdate(): void {
    this.prefixes.clear();
    this.completions.clear();
  }

  zeroGrad(): void {
    this.optimizer?.zeroGrad();
  }

  private weightsChanged(): void {
    this.version++;
    this.endUpdate();
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
    this.weightsChanged();
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
