// Tiny random Llama / Qwen2 models for fast engine tests: in memory, or written as a Hugging Face folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig, Tensor } from '../../src/engine/config.js';
import { CHATML_TEMPLATE, fitByteLevelBpe } from '../../src/engine/bpe-fit.js';
import { writeSafetensors } from '../../src/engine/io/safetensors.js';
import { rng } from '../../src/random.js';

export function tinyConfig(kind: 'llama' | 'qwen2', over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    architecture: kind,
    vocabSize: 300,
    hiddenSize: 16,
    intermediateSize: 24,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 4,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositionEmbeddings: 128,
    tieWordEmbeddings: kind === 'qwen2',
    attentionBias: kind === 'qwen2',
    eosTokenIds: [299],
    ...over,
  };
}

export function tinyWeights(c: ModelConfig, seed = 1, std = 0.3): Map<string, Tensor> {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const t = (shape: number[], fill?: number): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (fill !== undefined ? fill + 0.1 * normal() : std * normal())) });
  const w = new Map<string, Tensor>();
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  w.set('model.embed_tokens.weight', t([c.vocabSize, c.hiddenSize]));
  w.set('model.norm.weight', t([c.hiddenSize], 1));
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', t([c.vocabSize, c.hiddenSize]));
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    w.set(`${p}.input_layernorm.weight`, t([c.hiddenSize], 1));
    w.set(`${p}.post_attention_layernorm.weight`, t([c.hiddenSize], 1));
    w.set(`${p}.self_attn.q_proj.weight`, t([q, c.hiddenSize]));
    w.set(`${p}.self_attn.k_proj.weight`, t([kv, c.hiddenSize]));
    w.set(`${p}.self_attn.v_proj.weight`, t([kv, c.hiddenSize]));
    w.set(`${p}.self_attn.o_proj.weight`, t([c.hiddenSize, q]));
    if (c.attentionBias) {
      w.set(`${p}.self_attn.q_proj.bias`, t([q]));
      w.set(`${p}.self_attn.k_proj.bias`, t([kv]));
      w.set(`${p}.self_attn.v_proj.bias`, t([kv]));
    }
    w.set(`${p}.mlp.gate_proj.weight`, t([c.intermediateSize, c.hiddenSize]));
    w.set(`${p}.mlp.up_proj.weight`, t([c.intermediateSize, c.hiddenSize]));
    w.set(`${p}.mlp.down_proj.weight`, t([c.hiddenSize, c.intermediateSize]));
  }
  return w;
}

const CORPUS = ['SELECT count(*) FROM singer WHERE age > 30', 'How many singers are there?', 'SELECT name FROM t ORDER BY x DESC LIMIT 1', 'user assistant system'];

/** Writes a tiny model as a Hugging Face folder (config.json, model.safetensors, tokenizer.json + config with ChatML). */
export function writeTinyModelDir(dir: string, kind: 'llama' | 'qwen2', seed = 1, over: Partial<ModelConfig> = {}, std = 0.3): { config: ModelConfig; weights: Map<string, Tensor> } {
  mkdirSync(dir, { recursive: true });
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const tok = fitByteLevelBpe(CORPUS, { vocabSize: 300, specialTokens: specials, minFrequency: 1 });
  const config = tinyConfig(kind, over);
  const weights = tinyWeights(config, seed, std);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: CHATML_TEMPLATE, eos_token: '<|im_end|>', bos_token: null, pad_token: '<|endoftext|>' }));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: [kind === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
      model_type: kind,
      vocab_size: config.vocabSize,
      hidden_size: config.hiddenSize,
      intermediate_size: config.intermediateSize,
      num_hidden_layers: config.numLayers,
      num_attention_heads: config.numHeads,
      num_key_value_heads: config.numKvHeads,
      rms_norm_eps: config.rmsNormEps,
      rope_theta: config.ropeTheta,
      max_position_embeddings: config.maxPositionEmbeddings,
      head_dim: config.headDim,
      tie_word_embeddings: config.tieWordEmbeddings,
      eos_token_id: 299,
      torch_dtype: 'float32',
    }),
  );
  writeSafetensors(join(dir, 'model.safetensors'), weights);
  return { config, weights };
}
