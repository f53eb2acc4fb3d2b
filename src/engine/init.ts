// A model built from scratch: a byte-level BPE tokenizer fitted to a corpus and a randomly initialised
// Llama (normal(0, 0.02) weights, unit norms, as transformers initialises), written in the Hugging Face
// layout so it loads through the same path as any downloaded model. The demo's default model.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHATML_TEMPLATE, fitByteLevelBpe } from './bpe-fit.js';
import type { ModelConfig, Tensor } from './config.js';
import { writeSafetensors } from './io/safetensors.js';
import { hfConfigJson } from './io/save.js';
import { rng } from '../random.js';

export interface ScratchModelOptions {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  maxPositions: number;
  seed: number;
}

export function initWeights(c: ModelConfig, seed: number, std = 0.02): Map<string, Tensor> {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const randn = (shape: number[], s = std): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s * normal()) });
  const ones = (n: number): Tensor => ({ shape: [n], data: new Float32Array(n).fill(1) });
  const w = new Map<string, Tensor>();
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  w.set('model.embed_tokens.weight', randn([c.vocabSize, c.hiddenSize]));
  w.set('model.norm.weight', ones(c.hiddenSize));
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', randn([c.vocabSize, c.hiddenSize]));
  // residual-branch outputs scaled down by depth (GPT-2 style) so the initial residual stream stays small
  const outStd = std / Math.sqrt(2 * c.numLayers);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    w.set(`${p}.input_layernorm.weight`, ones(c.hiddenSize));
    w.set(`${p}.post_attention_layernorm.weight`, ones(c.hiddenSize));
    w.set(`${p}.self_attn.q_proj.weight`, randn([q, c.hiddenSize]));
    w.set(`${p}.self_attn.k_proj.weight`, randn([kv, c.hiddenSize]));
    w.set(`${p}.self_attn.v_proj.weight`, randn([kv, c.hiddenSize]));
    w.set(`${p}.self_attn.o_proj.weight`, randn([c.hiddenSize, q], outStd));
    if (c.attentionBias) {
      // Qwen2's q/k/v biases, zero at initialisation as transformers sets them
      w.set(`${p}.self_attn.q_proj.bias`, { shape: [q], data: new Float32Array(q) });
      w.set(`${p}.self_attn.k_proj.bias`, { shape: [kv], data: new Float32Array(kv) });
      w.set(`${p}.self_attn.v_proj.bias`, { shape: [kv], data: new Float32Array(kv) });
    }
    w.set(`${p}.mlp.gate_proj.weight`, randn([c.intermediateSize, c.hiddenSize]));
    w.set(`${p}.mlp.up_proj.weight`, randn([c.intermediateSize, c.hiddenSize]));
    w.set(`${p}.mlp.down_proj.weight`, randn([c.hiddenSize, c.intermediateSize], outStd));
  }
  return w;
}

/** Fits the tokenizer to `corpus`, initialises the model, writes the folder. */
export function createScratchModel(dir: string, corpus: string[], o: ScratchModelOptions): ModelConfig {
  mkdirSync(dir, { recursive: true });
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const tok = fitByteLevelBpe(corpus, { vocabSize: o.vocabSize, specialTokens: specials, splitDigits: true });
  const vocabSize = Object.keys(tok.model.vocab).length;
  const eos = tok.model.vocab['<|im_end|>']!;
  const config: ModelConfig = {
    architecture: 'llama',
    vocabSize,
    hiddenSize: o.hiddenSize,
    intermediateSize: o.intermediateSize,
    numLayers: o.numLayers,
    numHeads: o.numHeads,
    numKvHeads: o.numKvHeads,
    headDim: o.hiddenSize / o.numHeads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: o.maxPositions,
    tieWordEmbeddings: true,
    attentionBias: false,
    eosTokenIds: [eos],
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: CHATML_TEMPLATE, eos_token: '<|im_end|>', pad_token: '<|endoftext|>', bos_token: null }, null, 2));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfigJson(config), null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [eos] }));
  writeSafetensors(join(dir, 'model.safetensors'), initWeights(config, o.seed));
  return config;
}
