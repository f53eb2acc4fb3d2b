// Tokenizer + chat template: a Hugging Face tokenizer.json (run by @huggingface/tokenizers) and the
// model's Jinja chat template (run by @huggingface/jinja), built from an HF folder or from the
// tokenizer embedded in a GGUF file (tokenizer.ggml.*), so one .gguf is enough.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from '../interfaces/policy.js';
import type { GgufFile } from './io/gguf.js';

export interface TokenizerSpec {
  /** tokenizer.json content. */
  json: Record<string, unknown>;
  /** tokenizer_config.json content (chat_template, special tokens, add_bos_token...). */
  config: Record<string, unknown>;
  chatTemplate: string | null;
  eosTokenIds: number[];
  bosTokenId?: number;
  /** The file it came from, for error messages. */
  source?: string;
}

type Message = { role: 'system' | 'user' | 'assistant'; content: string };

export class ChatTokenizer implements Tokenizer {
  readonly eosTokenIds: number[];
  readonly vocabSize: number;
  private readonly tok: HfTokenizer;
  private readonly template: Template | null;
  private readonly specialTokens: Record<string, string>;

  constructor(readonly spec: TokenizerSpec) {
    const where = spec.source ?? 'tokenizer';
    try {
      this.tok = new HfTokenizer(spec.json, spec.config);
    } catch (err) {
      throw new Error(`${where}: cannot build the tokenizer: ${(err as Error).message.split('\n')[0]}`);
    }
    try {
      this.template = spec.chatTemplate ? new Template(spec.chatTemplate) : null;
    } catch (err) {
      throw new Error(`${where}: the chat template does not parse: ${(err as Error).message.split('\n')[0]}`);
    }
    this.eosTokenIds = spec.eosTokenIds;
    const model = spec.json.model as { vocab?: Record<string, number> };
    const added = (spec.json.added_tokens as { id: number }[] | undefined) ?? [];
    this.vocabSize = Math.max(Object.keys(model.vocab ?? {}).length, ...added.map((t) => t.id + 1));
    const tokenText = (v: unknown) => (typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String((v as { content: unknown }).content) : '');
    this.specialTokens = {
      bos_token: tokenText(spec.config.bos_token),
      eos_token: tokenText(spec.config.eos_token),
      pad_token: tokenText(spec.config.pad_token),
      unk_token: tokenText(spec.config.unk_token),
    };
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    // the text as the model wrote it: no "clean-up" of spaces before punctuation (Spider's gold SQL writes
    // `name ,  age`), unless the tokenizer's config asks for it (transformers' default is off too)
    return this.tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: this.spec.config.clean_up_tokenization_spaces === true });
  }

  applyChatTemplate(messages: Message[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) {
      // No template: a plain transcript, good enough for base models.
      return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + (opts.addGenerationPrompt ? 'assistant: ' : '');
    }
    return this.template.render({ messages, add_generation_prompt: opts.addGenerationPrompt ?? false, ...this.specialTokens });
  }
}

/** tokenizer.json for a GGUF 'gpt2' (byte-level BPE) vocabulary; control tokens become special added tokens. */
export function tokenizerSpecFromGguf(g: GgufFile): TokenizerSpec {
  const model = g.get('tokenizer.ggml.model');
  if (model !== 'gpt2') throw new Error(`${g.path}: tokenizer model '${String(model)}' is not supported (supported: gpt2 byte-level BPE)`);
  /** A metadata array whose items all have `type` (typeof); absent is [] unless required. */
  const arrayOf = <T>(key: string, type: 'string' | 'number', required: boolean): T[] => {
    const v = g.get(key);
    if (v === undefined && !required) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === type)) throw new Error(`${g.path}: bad metadata ${key}: expected an array of ${type}s`);
    return v as T[];
  };
  const tokens = arrayOf<string>('tokenizer.ggml.tokens', 'string', true);
  const types = arrayOf<number>('tokenizer.ggml.token_type', 'number', false);
  const merges = arrayOf<string>('tokenizer.ggml.merges', 'string', false);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const added = tokens.flatMap((t, i) => (types[i] === 3 || types[i] === 4 ? [{ id: i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[i] === 3 }] : []));
  const pre = String(g.get('tokenizer.ggml.pre') ?? 'default');
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  // llama.cpp's pre-tokenizer names: 'smollm' (and a few others) split digits one by one before GPT-2's regex.
  const preTokenizer = ['smollm', 'starcoder', 'refact'].includes(pre) ? { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel] } : byteLevel;
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  const eos = Number(g.get('tokenizer.ggml.eos_token_id') ?? -1);
  const bos = g.get('tokenizer.ggml.bos_token_id');
  const config: Record<string, unknown> = {
    eos_token: eos >= 0 ? tokens[eos] : undefined,
    bos_token: bos !== undefined ? tokens[Number(bos)] : undefined,
    add_bos_token: g.get('tokenizer.ggml.add_bos_token') ?? false,
  };
  const chatTemplate = (g.get('tokenizer.chat_template') as string | undefined) ?? null;
  if (eos >= tokens.length || (bos !== undefined && !(Number(bos) >= 0 && Number(bos) < tokens.length))) {
    throw new Error(`${g.path}: bad metadata: eos/bos token id (${eos}/${String(bos)}) outside the ${tokens.length}-token vocabulary`);
  }
  return { json, config, chatTemplate, eosTokenIds: eos >= 0 ? [eos] : [], ...(bos !== undefined ? { bosTokenId: Number(bos) } : {}), source: g.path };
}
