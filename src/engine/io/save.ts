// Writes a model in the Hugging Face layout (config.json, model.safetensors, tokenizer files,
// generation_config.json): merged LoRA models, full-parameter checkpoints, the demo model.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config.js';
import type { CausalLM } from '../model.js';
import type { ChatTokenizer } from '../tokenizer.js';
import { writeSafetensors } from './safetensors.js';

export function hfConfigJson(c: ModelConfig): Record<string, unknown> {
  return {
    architectures: [c.architecture === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
    model_type: c.architecture,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.attentionBias,
    hidden_act: 'silu',
    ...(c.bosTokenId !== undefined ? { bos_token_id: c.bosTokenId } : {}),
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds,
    torch_dtype: 'float32',
  };
}

export function writeTokenizerFiles(dir: string, tokenizer: ChatTokenizer): void {
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.spec.json));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...tokenizer.spec.config, ...(tokenizer.spec.chatTemplate ? { chat_template: tokenizer.spec.chatTemplate } : {}) }, null, 2));
}

export function saveHfModel(dir: string, model: CausalLM, tokenizer: ChatTokenizer): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), model.tensors(), { format: 'pt' });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfigJson(model.config), null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: model.config.eosTokenIds, ...(model.config.bosTokenId !== undefined ? { bos_token_id: model.config.bosTokenId } : {}) }, null, 2));
  writeTokenizerFiles(dir, tokenizer);
}
