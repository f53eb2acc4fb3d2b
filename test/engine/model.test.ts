// The engine against independent references: finite differences (every LoRA and full-training gradient on tiny
// Llama and Qwen2 models), a PyTorch float64 computation (logprobs and LoRA gradients, incl. a 2-layer model with
// Qwen2-0.5B dimensions), KV-cache decoding vs the full forward, BLAS vs the TypeScript fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CausalLM, type Param } from '../../src/engine/model.js';
import { attachLora, loadLora, saveLora } from '../../src/engine/lora.js';
import { loadHfDir } from '../../src/engine/io/load.js';
import { sgemm, sgemmJs } from '../../src/engine/blas.js';
import { tinyConfig, tinyWeights, writeTinyModelDir } from '../helpers/tiny-models.js';
import { REPO_ROOT } from '../helpers/paths.js';

const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-engine-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function weighted(m: CausalLM, tokens: number[], start: number, g: Float32Array, tau: number, adapter: boolean): number {
  const { logprobs } = m.forwardTrain(tokens, start, { adapter, temperature: tau, keep: false });
  let s = 0;
  logprobs.forEach((v, i) => (s += v * g[i]!));
  return s;
}

function randomizeAdapters(params: Param[]): void {
  for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.2 * Math.sin(i * 7.3 + p.name.length);
}

function fdCheck(m: CausalLM, params: Param[], tokens: number[], start: number, tau: number, adapter: boolean): number {
  const g = Float32Array.from({ length: tokens.length - start }, (_, i) => Math.cos(i));
  for (const p of params) p.grad.fill(0);
  const { state } = m.forwardTrain(tokens, start, { adapter, temperature: tau, keep: true });
  m.backwardTrain(state!, g);
  let worst = 0;
  for (const p of params) {
    for (const i of [0, Math.floor(p.data.length / 2), p.data.length - 1]) {
      const old = p.data[i]!;
      const eps = 1e-2;
      p.data[i] = old + eps;
      const up = weighted(m, tokens, start, g, tau, adapter);
      p.data[i] = old - eps;
      const down = weighted(m, tokens, start, g, tau, adapter);
      p.data[i] = old;
      const fd = (up - down) / (2 * eps);
      const an = p.grad[i]!;
      // float32 central differences: compare with an absolute floor
      const err = Math.abs(fd - an) / Math.max(2e-3, Math.abs(fd) + Math.abs(an));
      worst = Math.max(worst, err);
    }
  }
  return worst;
}

for (const kind of ['llama', 'qwen2'] as const) {
  test(`${kind}: every LoRA gradient (7 targets × 2 layers) matches central finite differences`, () => {
    const c = tinyConfig(kind);
    const m = new CausalLM(c, tinyWeights(c));
    const params = attachLora(m, { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] }, 3);
    randomizeAdapters(params);
    const worst = fdCheck(m, params, [5, 17, 42, 8, 99, 3, 250, 7, 1], 4, 0.7, true);
    assert.ok(worst < 3e-2, `worst relative error ${worst}`);
  });

  test(`${kind}: full-parameter gradients (embeddings, norms, every weight and bias) match finite differences`, () => {
    const c = tinyConfig(kind);
    const m = new CausalLM(c, tinyWeights(c));
    const params = m.enableFullTraining();
    const worst = fdCheck(m, params, [5, 17, 42, 8, 99, 3, 250, 7, 1], 2, 1, false);
    assert.ok(worst < 5e-2, `worst relative error ${worst}`);
  });

  test(`${kind}: KV-cache decoding of a batch gives the same logprobs as the full forward`, () => {
    const c = tinyConfig(kind);
    const m = new CausalLM(c, tinyWeights(c));
    const seq = [5, 17, 42, 8, 99, 3, 250, 7, 1, 44];
    const full = m.forwardTrain(seq, 5, { adapter: false, temperature: 1, keep: false }).logprobs;
    const cache = m.newCache(3, 16);
    let h = m.prefill(seq.slice(0, 5), cache, false);
    m.broadcastPrompt(cache);
    const logits = new Float32Array(3 * c.vocabSize);
    let hb: Float32Array = new Float32Array(3 * c.hiddenSize);
    for (let b = 0; b < 3; b++) hb.set(h, b * c.hiddenSize);
    for (let t = 5; t < seq.length; t++) {
      m.logits(hb, 3, logits);
      for (let b = 0; b < 3; b++) {
        const row = logits.subarray(b * c.vocabSize, (b + 1) * c.vocabSize);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        assert.ok(Math.abs(row[seq[t]!]! - lse - full[t - 5]!) < 1e-4, `position ${t} slot ${b}`);
      }
      hb = m.decode([seq[t]!, seq[t]!, seq[t]!], cache, false);
    }
  });
}

test('BLAS and the TypeScript GEMM agree on odd shapes, transposed or not', () => {
  const rnd = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 0.5);
  for (const [ta, tb, m, n, k] of [[false, true, 7, 5, 3], [true, false, 4, 6, 9], [false, false, 1, 8, 5], [false, true, 1, 8, 5], [true, true, 3, 4, 5], [false, false, 33, 17, 65]] as [boolean, boolean, number, number, number][]) {
    const a = rnd(m * k);
    const b = rnd(k * n);
    const c1 = rnd(m * n);
    const c2 = Float32Array.from(c1);
    sgemm(ta, tb, m, n, k, 0.7, a, b, 0.3, c1);
    sgemmJs(ta, tb, m, n, k, 0.7, a, b, 0.3, c2);
    c1.forEach((v, i) => assert.ok(Math.abs(v - c2[i]!) < 1e-5, `${ta} ${tb} ${m}x${n}x${k} at ${i}`));
  }
});

test('the model gives the same logprobs with SQLRL_BLAS=js (scalar TypeScript) and SQLRL_BLAS=none (portable WebAssembly) as with OpenBLAS', () => {
  const dir = join(tmp, 'blas-js');
  writeTinyModelDir(dir, 'qwen2');
  const script = `import { loadModel } from '${join(REPO_ROOT, 'src/engine/io/load.ts')}'; import { CausalLM } from '${join(REPO_ROOT, 'src/engine/model.ts')}'; import { blasInfo } from '${join(REPO_ROOT, 'src/engine/blas.ts')}';
const l = await loadModel('${dir}'); const m = new CausalLM(l.config, l.weights);
console.log(JSON.stringify({ backend: blasInfo().backend, lp: Array.from(m.forwardTrain([5, 17, 42, 8, 99, 3], 2, { adapter: false, temperature: 1, keep: false }).logprobs) }));`;
  writeFileSync(join(tmp, 'blas.mts'), script);
  const run = (env: Record<string, string>) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(tmp, 'blas.mts')], { env: { ...process.env, ...env } }).toString()) as { backend: string; lp: number[] };
  const js = run({ SQLRL_BLAS: 'js' });
  const portable = run({ SQLRL_BLAS: 'none' });
  const native = run({ SQLRL_BLAS: 'auto' }); // whatever SQLRL_BLAS this test runs under
  assert.equal(js.backend, 'js');
  assert.equal(portable.backend, 'wasm');
  assert.equal(native.backend, 'openblas');
  js.lp.forEach((v, i) => assert.ok(Math.abs(v - native.lp[i]!) < 1e-5, `js logprob ${i}: ${v} vs ${native.lp[i]}`));
  portable.lp.forEach((v, i) => assert.ok(Math.abs(v - native.lp[i]!) < 1e-5, `portable logprob ${i}: ${v} vs ${native.lp[i]}`));
});

function pyRef(req: Record<string, unknown>): Record<string, unknown> {
  const file = join(tmp, `req-${Math.random()}.json`);
  writeFileSync(file, JSON.stringify(req));
  return JSON.parse(execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'test/engine/ref/llama_ref.py'), file], { maxBuffer: 1 << 28 }).toString()) as Record<string, unknown>;
}

for (const [label, kind, over, tol] of [
  ['tiny Qwen2 (bias, GQA, tied embeddings)', 'qwen2', {}, 2e-4],
  ['tiny Llama (separate LM head)', 'llama', {}, 2e-4],
  ['2-layer model with Qwen2-0.5B dimensions (896 hidden, 14 heads, 2 KV heads, 4864 MLP)', 'qwen2', { hiddenSize: 896, numHeads: 14, numKvHeads: 2, headDim: 64, intermediateSize: 4864, ropeTheta: 1000000 }, 2e-3],
] as const) {
  test(`PyTorch float64 reference, ${label}: logprobs and every LoRA gradient`, () => {
    const dir = join(tmp, `ref-${kind}-${label.length}`);
    writeTinyModelDir(dir, kind, 7, over, over.hiddenSize ? 0.03 : 0.3);
    const loaded = loadHfDir(dir);
    const m = new CausalLM(loaded.config, loaded.weights);
    const params = attachLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: [...ALL] }, 5);
    randomizeAdapters(params);
    saveLora(join(dir, 'adapter'), m, { r: 4, alpha: 8, dropout: 0, targetModules: [...ALL] }, dir);
    const tokens = [1, 45, 12, 200, 7, 88, 3, 150, 9, 21, 60, 2];
    const start = 5;
    const g = Array.from({ length: tokens.length - start }, (_, i) => Math.cos(i));
    const ref = pyRef({ op: 'logprobs', model: dir, adapter: join(dir, 'adapter'), tokens, start, temperature: 0.8, g }) as { logprobs: number[]; grads: Record<string, number[]> };
    const { logprobs, state } = m.forwardTrain(tokens, start, { adapter: true, temperature: 0.8, keep: true });
    logprobs.forEach((v, i) => assert.ok(Math.abs(v - ref.logprobs[i]!) < tol, `logprob ${i}: ${v} vs ${ref.logprobs[i]}`));
    m.backwardTrain(state!, Float32Array.from(g));
    let worst = 0;
    for (const p of params) {
      const r = ref.grads[p.name]!;
      let maxAbs = 0;
      for (const x of r) maxAbs = Math.max(maxAbs, Math.abs(x));
      for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(p.grad[i]! - r[i]!) / (maxAbs + 1e-6));
    }
    const lpErr = Math.max(...Array.from(logprobs, (v, i) => Math.abs(v - ref.logprobs[i]!)));
    console.log(`${label}: max |logprob − torch| ${lpErr.toExponential(2)}, worst LoRA gradient error ${worst.toExponential(2)} (relative to each tensor's largest entry)`);
    assert.ok(worst < tol * 10, `worst gradient error relative to the tensor's largest entry: ${worst}`);
  });
}

test('a saved PEFT adapter reloads to identical logprobs', () => {
  const dir = join(tmp, 'peft');
  writeTinyModelDir(dir, 'llama');
  const l = loadHfDir(dir);
  const m = new CausalLM(l.config, l.weights);
  const cfg = { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] as ('q_proj' | 'v_proj')[] };
  randomizeAdapters(attachLora(m, cfg, 1));
  saveLora(join(dir, 'adapter'), m, cfg, dir);
  const m2 = new CausalLM(l.config, loadHfDir(dir).weights);
  loadLora(join(dir, 'adapter'), m2);
  const a = m.forwardTrain([3, 4, 5, 6, 7], 1, { adapter: true, temperature: 1, keep: false }).logprobs;
  const b = m2.forwardTrain([3, 4, 5, 6, 7], 1, { adapter: true, temperature: 1, keep: false }).logprobs;
  assert.deepEqual(Array.from(a), Array.from(b));
  const off = m2.forwardTrain([3, 4, 5, 6, 7], 1, { adapter: false, temperature: 1, keep: false }).logprobs;
  assert.notDeepEqual(Array.from(off), Array.from(b), 'adapter off is the base model');
});


test('sqlrl merge folds the adapter in: the merged model gives the adapter-on logprobs', async () => {
  const { runCli } = await import('../helpers/cli.js');
  const dir = join(tmp, 'merge-base');
  writeTinyModelDir(dir, 'qwen2');
  const l = loadHfDir(dir);
  const m = new CausalLM(l.config, l.weights);
  const cfg = { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] };
  randomizeAdapters(attachLora(m, cfg, 1));
  saveLora(join(dir, 'adapter'), m, cfg, dir);
  const out = join(tmp, 'merged');
  const r = await runCli(['merge', '--model', dir, '--adapter', join(dir, 'adapter'), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const merged = new CausalLM(loadHfDir(out).config, loadHfDir(out).weights);
  const a = m.forwardTrain([3, 4, 5, 6, 7], 1, { adapter: true, temperature: 1, keep: false }).logprobs;
  const b = merged.forwardTrain([3, 4, 5, 6, 7], 1, { adapter: false, temperature: 1, keep: false }).logprobs;
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-5));
});

test('gradient checkpointing gives the same gradients with only the layer inputs kept', () => {
  const c = tinyConfig('qwen2');
  const run = (checkpointing: boolean) => {
    const m = new CausalLM(c, tinyWeights(c));
    m.checkpointing = checkpointing;
    const params = attachLora(m, { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] }, 3);
    randomizeAdapters(params);
    const tokens = [5, 17, 42, 8, 99, 3, 250, 7, 1];
    const { state } = m.forwardTrain(tokens, 3, { adapter: true, temperature: 1, keep: true });
    if (checkpointing) assert.equal(state!.layers[0]!.xn, undefined, 'only the input is kept');
    m.backwardTrain(state!, Float32Array.from({ length: 6 }, (_, i) => Math.cos(i)));
    return params.map((p) => Array.from(p.grad));
  };
  assert.deepEqual(run(true), run(false));
});

test('LoRA dropout: gradients match finite differences under a fixed mask', () => {
  const c = tinyConfig('llama');
  const m = new CausalLM(c, tinyWeights(c));
  const params = attachLora(m, { r: 2, alpha: 4, dropout: 0.3, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 3);
  randomizeAdapters(params);
  const tokens = [5, 17, 42, 8, 99, 3, 77];
  const g = Float32Array.from({ length: 4 }, (_, i) => Math.cos(i));
  const lossWithMask = () => {
    m.reseedDropout(99);
    const { logprobs } = m.forwardTrain(tokens, 3, { adapter: true, temperature: 1, keep: true });
    return logprobs.reduce((s, v, i) => s + v * g[i]!, 0);
  };
  m.reseedDropout(99);
  const { state } = m.forwardTrain(tokens, 3, { adapter: true, temperature: 1, keep: true });
  m.backwardTrain(state!, g);
  let worst = 0;
  for (const p of params)
    for (const i of [0, Math.floor(p.data.length / 2), p.data.length - 1]) {
      const old = p.data[i]!;
      p.data[i] = old + 1e-2;
      const up = lossWithMask();
      p.data[i] = old - 1e-2;
      const down = lossWithMask();
      p.data[i] = old;
      const fd = (up - down) / 2e-2;
      worst = Math.max(worst, Math.abs(fd - p.grad[i]!) / Math.max(2e-3, Math.abs(fd) + Math.abs(p.grad[i]!)));
    }
  assert.ok(worst < 3e-2, `worst relative error ${worst}`);
});
