// The real test model, SmolLM2-135M-Instruct (GGUF Q4_1): loads with the right config and chat template,
// its logits match a PyTorch float32 computation on the same dequantized weights, greedy decoding of 64 tokens
// agrees token for token, and sampling-time logprobs equal training-time ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGguf } from '../../src/engine/io/load.js';
import { saveHfModel } from '../../src/engine/io/save.js';
import { CausalLM } from '../../src/engine/model.js';
import { CpuPolicy } from '../../src/engine/policy.js';
import { NO_TEST_MODEL, REPO_ROOT, TEST_MODEL_GGUF } from '../helpers/paths.js';
import { python, skipUnlessPython } from '../helpers/optional.js';

const skip = NO_TEST_MODEL;
const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-smol-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const F32_DIR = join(REPO_ROOT, '.cache/models/smollm2-f32');

test('SmolLM2 GGUF: config, tokenizer and chat template', { skip }, () => {
  const t0 = performance.now();
  const m = loadGguf(TEST_MODEL_GGUF);
  console.log(`loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (float32 weights ${((4 * [...m.weights.values()].reduce((s, w) => s + w.data.length, 0)) / 2 ** 20).toFixed(0)} MiB)`);
  assert.deepEqual(
    { ...m.config },
    { architecture: 'llama', vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, rmsNormEps: m.config.rmsNormEps, ropeTheta: 100000, maxPositionEmbeddings: 8192, tieWordEmbeddings: true, attentionBias: false, bosTokenId: 1, eosTokenIds: [2] },
  );
  assert.ok(Math.abs(m.config.rmsNormEps - 1e-5) < 1e-9);
  const text = m.tokenizer.applyChatTemplate([{ role: 'user', content: 'How many singers?' }], { addGenerationPrompt: true });
  // The reference rendering of SmolLM2's template (its default system turn, ChatML)
  assert.equal(text, '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHow many singers?<|im_end|>\n<|im_start|>assistant\n');
  const ids = m.tokenizer.encode(text);
  assert.deepEqual(ids.slice(0, 3), [1, 9690, 198], '<|im_start|> is one special token, then "system", newline');
  assert.equal(m.tokenizer.decode(ids), text);
  assert.deepEqual(m.tokenizer.encode(' 2014'), [216, 34, 32, 33, 36], 'digits are split one by one (smollm pre-tokenizer)');
});

test('SmolLM2 chat template: our rendering equals Python jinja2 with the environment transformers uses', { skip: NO_TEST_MODEL || skipUnlessPython('jinja2') }, () => {
  const m = loadGguf(TEST_MODEL_GGUF);
  const convs = [
    [{ role: 'user', content: 'How many singers?' }],
    [{ role: 'system', content: 'You write SQL.' }, { role: 'user', content: 'List tables.' }, { role: 'assistant', content: 'SELECT name FROM sqlite_master' }, { role: 'user', content: 'Thanks' }],
  ] as const;
  const py = `import json, sys, jinja2, jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
t = env.from_string(json.load(sys.stdin)["template"])
convs = ${JSON.stringify(convs)}
print(json.dumps([t.render(messages=c, add_generation_prompt=True, bos_token="<|im_start|>", eos_token="<|im_end|>") for c in convs]))`;
  const ref = JSON.parse(execFileSync(python('jinja2'), ['-c', py], { input: JSON.stringify({ template: m.tokenizer.spec.chatTemplate }) }).toString()) as string[];
  assert.equal(ref.length, convs.length);
  convs.forEach((c, i) => assert.equal(m.tokenizer.applyChatTemplate([...c], { addGenerationPrompt: true }), ref[i]));
});

test('SmolLM2: logits match PyTorch float32 on the same weights; greedy 64 tokens agree on 3 prompts', { skip: skip || skipUnlessPython('torch', 'numpy'), timeout: 300_000 }, async () => {
  const policy = await CpuPolicy.load(TEST_MODEL_GGUF);
  if (!existsSync(join(F32_DIR, 'model.safetensors'))) saveHfModel(F32_DIR, policy.model as CausalLM, policy.tokenizer);
  const prompts = ['Write a SQL query that counts the rows of table singer.', 'What is the capital of France?', 'List three colors.'];
  for (const q of prompts) {
    const prompt = policy.tokenizer.encode(policy.tokenizer.applyChatTemplate([{ role: 'user', content: q }], { addGenerationPrompt: true }));
    const [[s]] = await policy.sample([{ prompt, n: 1, seed: 0 }], { maxNewTokens: 64, temperature: 0 });
    const seq = [...prompt, ...s!.tokens];
    const req = join(tmp, 'req.json');
    writeFileSync(req, JSON.stringify({ op: 'teacher', model: F32_DIR, tokens: seq, dtype: 'float32' }));
    const ref = JSON.parse(execFileSync(python('torch', 'numpy'), [join(REPO_ROOT, 'test/engine/ref/llama_ref.py'), req], { maxBuffer: 1 << 28 }).toString()) as { argmax: number[]; last_logits: number[] };
    // greedy: each generated token is torch's argmax after the tokens before it
    const torchGreedy = ref.argmax.slice(prompt.length - 1, seq.length - 1);
    assert.deepEqual(s!.tokens, torchGreedy.slice(0, s!.tokens.length), `prompt: ${q}`);
    // logits at the last position
    const model = policy.model as CausalLM;
    const h = model.prefixHidden(model.prefill(seq, false, false));
    const logits = new Float32Array(49152);
    model.logits(h, 1, logits);
    let maxDiff = 0;
    let maxAbs = 0;
    logits.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - ref.last_logits[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(ref.last_logits[i]!));
    });
    console.log(`"${q}": ${s!.tokens.length} greedy tokens agree; last-position logits max |diff| ${maxDiff.toExponential(2)} (max |logit| ${maxAbs.toFixed(1)})`);
    assert.ok(maxDiff < 2e-3 * Math.max(1, maxAbs), `logits differ by ${maxDiff}`);
  }
});

test('SmolLM2: seeded sampling is reproducible and its logprobs equal the training-time recomputation', { skip }, async () => {
  const policy = await CpuPolicy.load(TEST_MODEL_GGUF);
  const prompt = policy.tokenizer.encode(policy.tokenizer.applyChatTemplate([{ role: 'user', content: 'Name a table in a music database.' }], { addGenerationPrompt: true }));
  const [a] = await policy.sample([{ prompt, n: 4, seed: 42 }], { maxNewTokens: 24, temperature: 0.8, topP: 0.95 });
  const [b] = await policy.sample([{ prompt, n: 4, seed: 42 }], { maxNewTokens: 24, temperature: 0.8, topP: 0.95 });
  assert.deepEqual(a!.map((s) => s.tokens), b!.map((s) => s.tokens));
  assert.ok(new Set(a!.map((s) => s.tokens.join(','))).size > 1, 'four samples at T=0.8 are not all identical');
  const [re] = await policy.logprobs([{ prompt, completions: a!.map((s) => s.tokens) }], { temperature: 0.8 });
  let worst = 0;
  a!.forEach((s, i) => s.logprobs.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - re![i]![j]!)))));
  assert.ok(worst < 1e-4, `sampling vs training logprobs differ by ${worst}`);
  const [stop] = await policy.sample([{ prompt, n: 1, seed: 0 }], { maxNewTokens: 40, temperature: 0, stopStrings: ['\n'] });
  assert.ok(stop![0]!.finishReason === 'stop' || stop![0]!.finishReason === 'eos');
  assert.ok(!stop![0]!.text.includes('\n'));
});
