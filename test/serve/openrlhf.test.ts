// OpenRLHF's `query` taken apart: the response after the prompt, the model's special tokens stripped, and the
// text the prompt prefilled (after its last assistant header). Hand-made strings in the shapes OpenRLHF sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { locateResponse, promptPrefill, stripSpecialTokens } from '../../src/serve/openrlhf.js';

test('trailing EOS and padding tokens of the common tokenizers are stripped, in any run', () => {
  assert.equal(stripSpecialTokens('SELECT 1</s>'), 'SELECT 1');
  assert.equal(stripSpecialTokens('SELECT 1<|im_end|>\n<|endoftext|><|endoftext|>'), 'SELECT 1');
  assert.equal(stripSpecialTokens('SELECT 1<|eot_id|>'), 'SELECT 1');
  assert.equal(stripSpecialTokens('SELECT 1<|end_of_text|>'), 'SELECT 1');
  assert.equal(stripSpecialTokens('SELECT 1<｜end▁of▁sentence｜>'), 'SELECT 1');
  assert.equal(stripSpecialTokens('SELECT 1<end_of_turn>\n<eos><pad><pad>'), 'SELECT 1');
  assert.equal(stripSpecialTokens('SELECT 1 < 2'), 'SELECT 1 < 2', 'not a token');
  assert.equal(stripSpecialTokens("SELECT '<|x|>' AS a"), "SELECT '<|x|>' AS a", 'only a trailing run');
});

test('the response is what follows the prompt (left padding before it is fine); a prompt not in query is null', () => {
  const prompt = '<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n';
  assert.equal(locateResponse('<|endoftext|><|endoftext|>' + prompt + 'SELECT 1<|im_end|>', prompt), 'SELECT 1');
  assert.equal(locateResponse(prompt.slice(10) + 'SELECT 1', prompt), null, 'a truncated prompt is not found');
  assert.equal(locateResponse('SELECT 1</s>', ''), 'SELECT 1');
});

test("a prompt's prefill: the text after its last assistant header; null without a known header", () => {
  assert.equal(promptPrefill('<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n'), '<think>\n');
  assert.equal(promptPrefill('<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n'), '');
  assert.equal(promptPrefill('<|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nLet me think. <think>'), 'Let me think. <think>');
  assert.equal(promptPrefill('User: q\nAssistant: <think>'), ' <think>');
  assert.equal(promptPrefill('just a question'), null);
});
