// One entry point for model weights: a Hugging Face folder (config.json + safetensors, single or
// sharded), a .gguf file, or `hf:ORG/NAME[@rev]` (downloaded to the cache). Returns the config, the
// float32 weights under Hugging Face names in [out, in] layout, and the tokenizer.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Architecture, ModelConfig, Tensor } from '../config.js';
import { ChatTokenizer, tokenizerSpecFromGguf, type TokenizerSpec } from '../tokenizer.js';
import { GgufFile } from './gguf.js';
import { readJsonObject } from './json.js';
import { SafetensorsFile } from './safetensors.js';

export interface LoadedModel {
  config: ModelConfig;
  weights: Map<string, Tensor>;
  tokenizer: ChatTokenizer;
  source: { kind: 'hf-dir' | 'gguf'; path: string };
}

export interface LoadOptions {
  cacheDir?: string;
  hubUrl?: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

const ARCHS: Record<string, Architecture> = { LlamaForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2', llama: 'llama', qwen2: 'qwen2' };

export async function loadModel(spec: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  if (spec.startsWith('hf:')) {
    const { downloadHubModel } = await import('./hub.js');
    return loadHfDir(await downloadHubModel(spec.slice(3), opts));
  }
  if (!existsSync(spec)) throw new Error(`model '${spec}' not found (pass a Hugging Face folder, a .gguf file, or hf:ORG/NAME)`);
  if (statSync(spec).isDirectory()) return loadHfDir(spec);
  if (spec.endsWith('.gguf')) return loadGguf(spec);
  throw new Error(`model '${spec}' is neither a folder nor a .gguf file`);
}

// ------------------------------------------------------------------ Hugging Face folder

export function configFromHf(cfg: Record<string, unknown>, generation: Record<string, unknown> | null, where: string): ModelConfig {
  const archName = ((cfg.architectures as string[] | undefined)?.[0] ?? String(cfg.model_type ?? '')) as string;
  const architecture = ARCHS[archName] ?? ARCHS[String(cfg.model_type)];
  if (!architecture) throw new Error(`${where}: architecture '${archName}' is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM)`);
  const n = (k: string, d?: number) => {
    const v = cfg[k];
    if (typeof v === 'number') return v;
    if (d !== undefined) return d;
    throw new Error(`${where}: config.json lacks '${k}'`);
  };
  const hidden = n('hidden_size');
  const heads = n('num_attention_heads');
  const eos = generation?.eos_token_id ?? cfg.eos_token_id;
  return {
    architecture,
    vocabSize: n('vocab_size'),
    hiddenSize: hidden,
    intermediateSize: n('intermediate_size'),
    numLayers: n('num_hidden_layers'),
    numHeads: heads,
    numKvHeads: n('num_key_value_heads', heads),
    headDim: n('head_dim', hidden / heads),
    rmsNormEps: n('rms_norm_eps', 1e-6),
    ropeTheta: n('rope_theta', 10000),
    maxPositionEmbeddings: n('max_position_embeddings', 2048),
    tieWordEmbeddings: Boolean(cfg.tie_word_embeddings ?? false),
    attentionBias: architecture === 'qwen2' ? true : Boolean(cfg.attention_bias ?? false),
    ...(typeof cfg.bos_token_id === 'number' ? { bosTokenId: cfg.bos_token_id } : {}),
    eosTokenIds: Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [],
  };
}

export function loadTokenizerDir(dir: string, eosFallback: number[] = []): ChatTokenizer {
  const tokFile = join(dir, 'tokenizer.json');
  if (!existsSync(tokFile)) throw new Error(`${dir}: tokenizer.json not found`);
  const json = readJsonObject(tokFile);
  const config = existsSync(join(dir, 'tokenizer_config.json')) ? readJsonObject(join(dir, 'tokenizer_config.json')) : {};
  let chatTemplate = (config.chat_template as string | undefined) ?? null;
  if (!chatTemplate && existsSync(join(dir, 'chat_template.jinja'))) chatTemplate = readFileSync(join(dir, 'chat_template.jinja'), 'utf8');
  if (!json.model || typeof json.model !== 'object') throw new Error(`${tokFile}: no 'model' object (is this a Hugging Face tokenizer.json?)`);
  const vocab = (json.model as { vocab?: Record<string, number> }).vocab ?? {};
  const added = new Map(((json.added_tokens as { id: number; content: string }[] | undefined) ?? []).map((t) => [t.content, t.id]));
  const idOf = (v: unknown) => {
    const s = typeof v === 'string' ? v : v && typeof v === 'object' ? String((v as { content?: unknown }).content) : undefined;
    return s === undefined ? undefined : (added.get(s) ?? vocab[s]);
  };
  const eosId = idOf(config.eos_token);
  const eosTokenIds = [...new Set([...(eosId !== undefined ? [eosId] : []), ...eosFallback])];
  const spec: TokenizerSpec = { json, config, chatTemplate, eosTokenIds, source: tokFile };
  return new ChatTokenizer(spec);
}

export function loadHfDir(dir: string): LoadedModel {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new Error(`${dir}: config.json not found (is this a Hugging Face model folder?)`);
  const gen = existsSync(join(dir, 'generation_config.json')) ? readJsonObject(join(dir, 'generation_config.json')) : null;
  const config = configFromHf(readJsonObject(cfgPath), gen, dir);
  const files: string[] = [];
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = readJsonObject(index).weight_map;
    if (!map || typeof map !== 'object' || !Object.values(map).every((f) => typeof f === 'string')) throw new Error(`${index}: 'weight_map' must map tensor names to file names`);
    files.push(...new Set(Object.values(map as Record<string, string>)));
    for (const f of files) if (!existsSync(join(dir, f))) throw new Error(`${index}: lists '${f}', which is not in ${dir} (incomplete download?)`);
  } else if (existsSync(join(dir, 'model.safetensors'))) files.push('model.safetensors');
  else throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const weights = new Map<string, Tensor>();
  for (const f of files) {
    const st = new SafetensorsFile(join(dir, f));
    try {
      for (const name of st.entries.keys()) weights.set(name, st.read(name));
    } finally {
      st.close();
    }
  }
  checkWeights(config, weights, dir);
  const tokenizer = loadTokenizerDir(dir, config.eosTokenIds);
  if (!config.eosTokenIds.length) config.eosTokenIds = tokenizer.eosTokenIds;
  return { config, weights, tokenizer, source: { kind: 'hf-dir', path: dir } };
}

// ------------------------------------------------------------------ GGUF

const GGUF_NAMES: [RegExp, string][] = [
  [/^token_embd\.weight$/, 'model.embed_tokens.weight'],
  [/^output_norm\.weight$/, 'model.norm.weight'],
  [/^output\.weight$/, 'lm_head.weight'],
  [/^blk\.(\d+)\.attn_norm\.weight$/, 'model.layers.$1.input_layernorm.weight'],
  [/^blk\.(\d+)\.ffn_norm\.weight$/, 'model.layers.$1.post_attention_layernorm.weight'],
  [/^blk\.(\d+)\.attn_q\.(weight|bias)$/, 'model.layers.$1.self_attn.q_proj.$2'],
  [/^blk\.(\d+)\.attn_k\.(weight|bias)$/, 'model.layers.$1.self_attn.k_proj.$2'],
  [/^blk\.(\d+)\.attn_v\.(weight|bias)$/, 'model.layers.$1.self_attn.v_proj.$2'],
  [/^blk\.(\d+)\.attn_output\.weight$/, 'model.layers.$1.self_attn.o_proj.weight'],
  [/^blk\.(\d+)\.ffn_gate\.weight$/, 'model.layers.$1.mlp.gate_proj.weight'],
  [/^blk\.(\d+)\.ffn_up\.weight$/, 'model.layers.$1.mlp.up_proj.weight'],
  [/^blk\.(\d+)\.ffn_down\.weight$/, 'model.layers.$1.mlp.down_proj.weight'],
];

export function hfNameOfGguf(name: string): string | null {
  for (const [re, to] of GGUF_NAMES) if (re.test(name)) return name.replace(re, to);
  return null;
}

/**
 * llama.cpp's converter permutes the rows of Llama's q_proj/k_proj (per head, interleaving the two
 * rotary halves); undo it so the weights equal the Hugging Face ones: hf[h, a, b] = gguf[h, b, a]
 * with rows viewed as [heads, 2, headDim/2].
 */
export function unpermuteRows(data: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const hd = rows / heads;
  const half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++)
    for (let a = 0; a < 2; a++)
      for (let b = 0; b < half; b++) {
        const src = (h * hd + b * 2 + a) * cols;
        const dst = (h * hd + a * half + b) * cols;
        out.set(data.subarray(src, src + cols), dst);
      }
  return out;
}

export function loadGguf(path: string): LoadedModel {
  const g = new GgufFile(path);
  try {
    const arch = String(g.get('general.architecture'));
    const architecture = ARCHS[arch];
    if (!architecture) throw new Error(`${path}: architecture '${arch}' is not supported (supported: llama, qwen2)`);
    const num = (k: string, d?: number) => {
      const v = g.get(`${arch}.${k}`);
      if (v === undefined) {
        if (d !== undefined) return d;
        throw new Error(`${path}: metadata ${arch}.${k} missing`);
      }
      const x = Number(v);
      if (typeof v === 'string' || Array.isArray(v) || !Number.isFinite(x) || x <= 0) throw new Error(`${path}: bad metadata ${arch}.${k} = ${JSON.stringify(typeof v === 'bigint' ? String(v) : v).slice(0, 60)} (expected a positive number)`);
      return x;
    };
    const tokSpec = tokenizerSpecFromGguf(g);
    const hidden = num('embedding_length');
    const heads = num('attention.head_count');
    const hasOutput = g.tensors.has('output.weight');
    const config: ModelConfig = {
      architecture,
      vocabSize: num('vocab_size', (g.get('tokenizer.ggml.tokens') as string[]).length), // an array of strings: tokenizerSpecFromGguf checked
      hiddenSize: hidden,
      intermediateSize: num('feed_forward_length'),
      numLayers: num('block_count'),
      numHeads: heads,
      numKvHeads: num('attention.head_count_kv', heads),
      headDim: num('attention.key_length', hidden / heads),
      rmsNormEps: num('attention.layer_norm_rms_epsilon', 1e-6),
      ropeTheta: num('rope.freq_base', 10000),
      maxPositionEmbeddings: num('context_length', 2048),
      tieWordEmbeddings: !hasOutput,
      attentionBias: g.tensors.has('blk.0.attn_q.bias'),
      ...(tokSpec.bosTokenId !== undefined ? { bosTokenId: tokSpec.bosTokenId } : {}),
      eosTokenIds: tokSpec.eosTokenIds,
    };
    const weights = new Map<string, Tensor>();
    for (const [name, info] of g.tensors) {
      const hf = hfNameOfGguf(name);
      if (!hf) continue;
      let data = g.read(name);
      const shape = [...info.dims].reverse();
      if (architecture === 'llama' && /\.(q_proj|k_proj)\.weight$/.test(hf)) {
        data = unpermuteRows(data, shape[0]!, shape[1]!, hf.includes('q_proj') ? config.numHeads : config.numKvHeads);
      }
      weights.set(hf, { shape, data });
    }
    checkWeights(config, weights, path);
    return { config, weights, tokenizer: new ChatTokenizer(tokSpec), source: { kind: 'gguf', path } };
  } finally {
    g.close();
  }
}

/** Every tensor the architecture needs is present with the expected shape; errors name it. */
export function checkWeights(c: ModelConfig, w: Map<string, Tensor>, where: string): void {
  const expect = (name: string, shape: number[]) => {
    const t = w.get(name);
    if (!t) throw new Error(`${where}: missing tensor '${name}'`);
    if (t.shape.join('x') !== shape.join('x')) throw new Error(`${where}: tensor '${name}' has shape [${t.shape}] but the config implies [${shape}]`);
  };
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  expect('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
  expect('model.norm.weight', [c.hiddenSize]);
  if (!c.tieWordEmbeddings) expect('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    expect(`${p}.input_layernorm.weight`, [c.hiddenSize]);
    expect(`${p}.post_attention_layernorm.weight`, [c.hiddenSize]);
    expect(`${p}.self_attn.q_proj.weight`, [q, c.hiddenSize]);
    expect(`${p}.self_attn.k_proj.weight`, [kv, c.hiddenSize]);
    expect(`${p}.self_attn.v_proj.weight`, [kv, c.hiddenSize]);
    expect(`${p}.self_attn.o_proj.weight`, [c.hiddenSize, q]);
    if (c.attentionBias) {
      expect(`${p}.self_attn.q_proj.bias`, [q]);
      expect(`${p}.self_attn.k_proj.bias`, [kv]);
      expect(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    expect(`${p}.mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    expect(`${p}.mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    expect(`${p}.mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize]);
  }
  if (c.tieWordEmbeddings && w.has('lm_head.weight')) w.delete('lm_head.weight');
}
