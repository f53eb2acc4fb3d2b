// Fits a byte-level BPE tokenizer (GPT-2 style, as SmolLM2 and Qwen2 use) to a corpus and writes it as
// a Hugging Face `tokenizer.json`, so a model built from scratch (the demo model) loads through the same
// path as a downloaded one. Written by hand: the JS tokenizers package only encodes, it does not train.

export interface FitOptions {
  /** Final vocabulary size, special tokens included. */
  vocabSize: number;
  /** Added as special tokens after the byte alphabet, in this order. */
  specialTokens: string[];
  /** Pairs seen fewer times than this are never merged. Default 2. */
  minFrequency?: number;
  /** Split digits one by one before BPE (as SmolLM2 and Qwen2 do): numbers are copied digit by digit. */
  splitDigits?: boolean;
}

export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean }[];
  normalizer: null;
  pre_tokenizer: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean } | { type: 'Sequence'; pretokenizers: Record<string, unknown>[] };
  post_processor: null;
  decoder: { type: 'ByteLevel'; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

/** GPT-2's reversible map from the 256 byte values to printable characters. */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (keep.includes(b)) table[b] = String.fromCodePoint(b);
    else table[b] = String.fromCodePoint(256 + extra++);
  }
  return table;
}

/** The GPT-2 pre-tokenizer split (ByteLevel with use_regex). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export function fitByteLevelBpe(corpus: Iterable<string>, opts: FitOptions): TokenizerJson {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const raw of corpus) {
    // Digits(individual_digits) runs first: each digit is its own piece, split from its neighbours
    const pieces = opts.splitDigits ? raw.split(/(\p{N})/u).filter((x) => x !== '') : [raw];
    for (const text of pieces)
    for (const m of text.matchAll(GPT2_SPLIT)) {
      const w = Array.from(encoder.encode(m[0]), (b) => byteChar[b]).join('');
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    }
  }
  const words = [...wordCounts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, count]) => ({ symbols: Array.from(w), count }));

  const vocab: Record<string, number> = {};
  const alphabet = [...byteChar].sort();
  for (const ch of alphabet) vocab[ch] = Object.keys(vocab).length;
  const merges: string[] = [];
  const target = opts.vocabSize - opts.specialTokens.length;
  const minFrequency = opts.minFrequency ?? 2;

  while (Object.keys(vocab).length < target) {
    const pairCounts = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [key, c] of pairCounts) {
      if (c > bestCount || (c === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (!best || bestCount < minFrequency) break;
    const [a, b] = best.split(' ') as [string, string];
    const merged = a + b;
    merges.push(best);
    if (!(merged in vocab)) vocab[merged] = Object.keys(vocab).length;
    for (const w of words) {
      const s = w.symbols;
      if (s.length < 2) continue;
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(s[i]!);
      }
      w.symbols = out;
    }
  }

  const added_tokens = opts.specialTokens.map((content) => {
    const id = Object.keys(vocab).length;
    vocab[content] = id;
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  });
  const byteLevel = { type: 'ByteLevel' as const, add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens,
    normalizer: null,
    pre_tokenizer: opts.splitDigits ? { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel] } : byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

/** ChatML, as SmolLM2-Instruct and Qwen2 use it (system turn only when given). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
