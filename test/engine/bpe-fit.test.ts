// The fitted tokenizer loads in @huggingface/tokenizers, round-trips any text (byte-level), and compresses its corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '@huggingface/tokenizers';
import { bytesToUnicode, fitByteLevelBpe } from '../../src/engine/bpe-fit.js';

const corpus = [
  'SELECT count(*) FROM singer WHERE age > 30',
  'How many singers are older than 30?',
  'SELECT name FROM singer ORDER BY age DESC LIMIT 1',
  'What is the name of the oldest singer?',
  'SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id',
];

test('bytesToUnicode is GPT-2 table: printable bytes map to themselves, space to Ġ, newline to Ċ', () => {
  const t = bytesToUnicode();
  assert.equal(new Set(t).size, 256);
  assert.equal(t[65], 'A');
  assert.equal(t[32], 'Ġ');
  assert.equal(t[10], 'Ċ');
});

test('fit: deterministic, exact vocab size, special tokens last, loads and round-trips in @huggingface/tokenizers', () => {
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const a = fitByteLevelBpe(corpus, { vocabSize: 300, specialTokens: specials, minFrequency: 1 });
  const b = fitByteLevelBpe(corpus, { vocabSize: 300, specialTokens: specials, minFrequency: 1 });
  assert.deepEqual(a, b);
  assert.equal(Object.keys(a.model.vocab).length, 300);
  assert.deepEqual(a.added_tokens.map((t) => [t.id, t.content]), [[297, '<|endoftext|>'], [298, '<|im_start|>'], [299, '<|im_end|>']]);
  assert.equal(a.model.merges.length, 300 - 256 - 3);
  const tok = new Tokenizer(a, { eos_token: '<|im_end|>' });
  for (const text of [...corpus, 'Ünïcödé 🙂 text\nnew line', '<|im_start|>user\nhi<|im_end|>']) {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    assert.equal(tok.decode(ids, { skip_special_tokens: false }), text);
  }
  const ids = tok.encode('<|im_start|>user', { add_special_tokens: false }).ids;
  assert.equal(ids[0], 298, 'special tokens are single ids');
  const trained = tok.encode(corpus[0]!, { add_special_tokens: false }).ids.length;
  assert.ok(trained < corpus[0]!.length / 2, `corpus text compresses: ${trained} tokens for ${corpus[0]!.length} bytes`);
});
