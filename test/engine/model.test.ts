// The engine against independent references. The rule under test: a group (one prompt, K completions,
// the prompt computed once and attended to as a shared prefix) gives the same logprobs and gradients as
// K separate sequences — checked against central finite differences, against the engine's own
// per-sequence passes, and against a PyTorch float64 computation that runs each completion as its own
// sequence (test/engine/ref/llama_ref.py, written from the Hugging Face modeling equations). Also:
// decoding with a kept prompt vs the full forward, gradient checkpointing on and off, a prompt reused from
// sampling, LoRA dropout, PEFT round trips, `sqlrl merge`, BLAS vs the TypeScript GEMM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packGroups, type GroupInput } from '../../src/engine/batch.js';
import { CausalLM, type Keep, type Param, type PrefixState } from '../../src/engine/model.js';
import { attachLora, loadLora, saveLora } from '../../src/engine/lora.js';
import { loadHfDir } from '../../src/engine/io/load.js';
import { sgemm, sgemmJs } from '../../src/engine/blas.js';
import { tinyConfig, tinyWeights, writeTinyModelDir } from '../helpers/tiny-models.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { python, REQUIRE_ALL, skipUnlessPython } from '../helpers/optional.js';

const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-engine-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** A prompt and completions of different lengths, one of a single token and one empty. */
const GROUP: GroupInput = { prompt: [5, 17, 42, 8, 99], completions: [[3, 250, 7, 1], [9], [11, 12, 13], []] };
/** Per-token weights g for the group's completions (zeros included, as a truncation mask leaves them). */
const weightsFor = (g: GroupInput) => g.completions.map((c, k) => Float32Array.from(c, (_, i) => (k === 2 && i === 1 ? 0 : Math.cos(i + 3 * k))));
const flat = (xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));

function randomizeAdapters(params: Param[]): void {
  for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.2 * Math.sin(i * 7.3 + p.name.length);
}

/** Σ g·logp of the group, and the gradient it accumulates into the parameters (zeroed first). */
function groupGrad(m: CausalLM, params: Param[], g: GroupInput, w: Float32Array[], o: { adapter: boolean; temperature: number; keep: Keep; reuse?: boolean }): { lp: Float32Array; grads: Float32Array[] } {
  for (const p of params) p.grad.fill(0);
  const prefixes = o.reuse ? [m.prefill(g.prompt, o.adapter, true)] : undefined;
  const { logprobs, tape } = m.forward(packGroups([g]), { adapter: o.adapter, temperature: o.temperature, keep: o.keep, ...(prefixes ? { prefixes } : {}) });
  m.backward(tape!, flat(w));
  return { lp: logprobs, grads: params.map((p) => p.grad.slice()) };
}

/** The same, one completion at a time (each with its own copy of the prompt), gradients summed. */
function perSequenceGrad(m: CausalLM, params: Param[], g: GroupInput, w: Float32Array[], o: { adapter: boolean; temperature: number }): { lp: Float32Array; grads: Float32Array[] } {
  for (const p of params) p.grad.fill(0);
  const lps: number[] = [];
  g.completions.forEach((c, k) => {
    if (!c.length) return;
    const { logprobs, tape } = m.forward(packGroups([{ prompt: g.prompt, completions: [c] }]), { adapter: o.adapter, temperature: o.temperature, keep: 'all' });
    lps.push(...logprobs);
    m.backward(tape!, w[k]!);
  });
  return { lp: Float32Array.from(lps), grads: params.map((p) => p.grad.slice()) };
}

/** log softmax(row)[t], computed directly from the logits (the reference for decoded logprobs). */
function logSoftmaxAt(row: Float32Array, t: number): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  return row[t]! - max - Math.log(s);
}

/** ‖a − b‖ / ‖b‖ over every tensor: the relative error of a whole gradient. */
function relErr(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let num = 0;
  let den = 0;
  a.forEach((x, j) => {
    for (let i = 0; i < x.length; i++) {
      num += (x[i]! - b[j]![i]!) ** 2;
      den += b[j]![i]! ** 2;
    }
  });
  return Math.sqrt(num / Math.max(den, 1e-30));
}

function fdCheck(m: CausalLM, params: Param[], g: GroupInput, tau: number, adapter: boolean): number {
  const w = weightsFor(g);
  const { grads } = groupGrad(m, params, g, w, { adapter, temperature: tau, keep: 'all' });
  const wf = flat(w);
  const objective = () => m.groupLogprobs([g], { adapter, temperature: tau }).reduce((s, v, i) => s + v * wf[i]!, 0);
  let worst = 0;
  params.forEach((p, j) => {
    for (const i of [0, Math.floor(p.data.length / 2), p.data.length - 1]) {
      const old = p.data[i]!;
      const eps = 1e-2;
      p.data[i] = old + eps;
      const up = objective();
      p.data[i] = old - eps;
      const down = objective();
      p.data[i] = old;
      const fd = (up - down) / (2 * eps);
      const an = grads[j]![i]!;
      // float32 central differences: compare with an absolute floor
      worst = Math.max(worst, Math.abs(fd - an) / Math.max(2e-3, Math.abs(fd) + Math.abs(an)));
    }
  });
  return worst;
}

for (const kind of ['llama', 'qwen2'] as const) {
  test(`${kind}: every LoRA gradient of a group (7 targets × 2 layers) matches central finite differences`, () => {
    const c = tinyConfig(kind);
    const m = new CausalLM(c, tinyWeights(c));
    const params = attachLora(m, { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] }, 3);
    randomizeAdapters(params);
    const worst = fdCheck(m, params, GROUP, 0.7, true);
    assert.ok(worst < 3e-2, `worst relative error ${worst}`);
  });

  test(`${kind}: full-parameter gradients of a group (embeddings, norms, every weight and bias) match finite differences`, () => {
    const c = tinyConfig(kind);
    const m = new CausalLM(c, tinyWeights(c));
    const worst = fdCheck(m, m.enableFullTraining(), GROUP, 1, false);
    assert.ok(worst < 5e-2, `worst relative error ${worst}`);
  });

  for (const train of ['lora', 'full'] as const)
    test(`${kind}, ${train}: a group's logprobs and gradients equal K separate sequences' (checkpointing off and on, prompt reused from a prefill, K = 1)`, () => {
      const c = tinyConfig(kind);
      const m = new CausalLM(c, tinyWeights(c));
      let params: Param[];
      if (train === 'lora') {
        params = attachLora(m, { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] }, 3);
        randomizeAdapters(params);
      } else params = m.enableFullTraining();
      const adapter = train === 'lora';
      // the last group spans several 64-row attention blocks, some holding rows of two completions
      const long: GroupInput = { prompt: Array.from({ length: 70 }, (_, i) => (i * 37) % 290), completions: [40, 30, 50].map((n, k) => Array.from({ length: n }, (_, i) => (i * 13 + k * 7 + 1) % 290)) };
      for (const g of [GROUP, { prompt: [7, 1, 2], completions: [[4, 5, 6, 7, 8]] }, long]) {
        const w = weightsFor(g);
        const want = perSequenceGrad(m, params, g, w, { adapter, temperature: 0.7 });
        for (const [keep, reuse] of [
          ['all', false],
          ['inputs', false],
          ['inputs', true],
        ] as const) {
          const got = groupGrad(m, params, g, w, { adapter, temperature: 0.7, keep, reuse });
          assert.ok(relErr([got.lp], [want.lp]) < 1e-5, `logprobs (keep ${keep}, reuse ${reuse}): ${relErr([got.lp], [want.lp])}`);
          const e = relErr(got.grads, want.grads);
          assert.ok(e < 1e-5, `gradients (K=${g.completions.length}, keep ${keep}, reuse ${reuse}): relative error ${e}`);
        }
      }
    });

  test(`${kind}: prompts continued from a kept shared beginning (extendMany) equal their full prefill, layer inputs included; decoding over them gives the full forward's logprobs`, () => {
    const c = tinyConfig(kind);
    const m = new CausalLM(c, tinyWeights(c));
    randomizeAdapters(attachLora(m, { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] }, 3));
    const head = Array.from({ length: 70 }, (_, i) => (i * 31 + 5) % 290);
    const suffixes = [[4, 9, 250], [17], Array.from({ length: 20 }, (_, i) => (i * 11 + 2) % 290)];
    const other = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 290);
    const [hs, os] = m.prefillMany([head, other.slice(0, 30)], true, true) as [PrefixState, PrefixState];
    const got = m.extendMany([...suffixes.map((s) => ({ base: hs, suffix: s })), { base: os, suffix: other.slice(30) }], true);
    const want = m.prefillMany([...suffixes.map((s) => [...head, ...s]), other], true, true);
    got.forEach((g, i) => {
      const w = want[i]!;
      assert.deepEqual(Array.from(g.prompt), Array.from(w.prompt));
      assert.equal(g.bytes, w.bytes);
      const parts: [string, Float32Array[], Float32Array[]][] = [['k', g.k, w.k], ['v', g.v, w.v], ['x', g.x!, w.x!], ['xLast', [g.xLast], [w.xLast]]];
      for (const [name, a, b] of parts) {
        const e = relErr(a, b);
        assert.ok(e < 1e-5, `prompt ${i} ${name}: relative error ${e}`);
      }
    });
    // decoding a completion over an extended prompt: the full forward's logprobs
    const comp = [3, 250, 7, 1];
    const wantLp = m.groupLogprobs([{ prompt: [...head, ...suffixes[0]!], completions: [comp] }], { adapter: true, temperature: 1 });
    const V = c.vocabSize;
    const logits = new Float32Array(V);
    m.logits(m.prefixHidden(got[0]!), 1, logits);
    const gotLp = [logSoftmaxAt(logits, comp[0]!)];
    const cache = m.newDecodeCache(1, 8);
    for (let t = 0; t < comp.length - 1; t++) {
      m.logits(m.decodeStep([comp[t]!], [{ prefix: got[0]!, slot: 0, t }], cache, true), 1, logits);
      gotLp.push(logSoftmaxAt(logits, comp[t + 1]!));
    }
    gotLp.forEach((v, i) => assert.ok(Math.abs(v - wantLp[i]!) < 1e-5, `token ${i}: ${v} vs ${wantLp[i]}`));
    assert.throws(() => m.extendMany([{ base: hs, suffix: [] }], false), /empty suffix/);
  });

  test(`${kind}: decoding two groups as one batch over prompts prefilled together gives the full forward's logprobs (cache slots adjacent or apart)`, () => {
    const c = tinyConfig(kind);
    const m = new CausalLM(c, tinyWeights(c));
    randomizeAdapters(attachLora(m, { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] }, 3));
    const p1 = [5, 17, 42, 8, 99];
    const p2 = [7, 7, 1];
    const seqs = [[3, 250, 7, 1], [11, 12, 13, 14], [4, 5, 6, 7]];
    const want = m.groupLogprobs([{ prompt: p1, completions: [seqs[0]!, seqs[1]!] }, { prompt: p2, completions: [seqs[2]!] }], { adapter: true, temperature: 1 });
    // both prompts prefilled in one packed pass
    const [s1, s2] = m.prefillMany([p1, p2], true, false) as [PrefixState, PrefixState];
    const V = c.vocabSize;
    // a group's sequences in adjacent slots, or apart (one in between finished): one product over their keys either way
    for (const slots of [[0, 1, 2], [0, 2, 1]]) {
      const logits = new Float32Array(3 * V);
      const got: number[][] = [[], [], []];
      m.logits(m.prefixHidden(s1), 1, logits);
      got[0]!.push(logSoftmaxAt(logits.subarray(0, V), seqs[0]![0]!));
      got[1]!.push(logSoftmaxAt(logits.subarray(0, V), seqs[1]![0]!));
      m.logits(m.prefixHidden(s2), 1, logits);
      got[2]!.push(logSoftmaxAt(logits.subarray(0, V), seqs[2]![0]!));
      const cache = m.newDecodeCache(3, 8);
      for (let t = 0; t < 3; t++) {
        const h = m.decodeStep(
          seqs.map((s) => s[t]!),
          [
            { prefix: s1, slot: slots[0]!, t },
            { prefix: s1, slot: slots[1]!, t },
            { prefix: s2, slot: slots[2]!, t },
          ],
          cache,
          true,
        );
        m.logits(h, 3, logits);
        seqs.forEach((s, b) => got[b]!.push(logSoftmaxAt(logits.subarray(b * V, (b + 1) * V), s[t + 1]!)));
      }
      got.flat().forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `slots ${slots}, token ${i}: ${v} vs ${want[i]}`));
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

test('the model gives the same logprobs with SQLRL_BLAS=js (scalar TypeScript) and SQLRL_BLAS=none (portable WebAssembly) as with OpenBLAS', (t) => {
  const dir = join(tmp, 'blas-js');
  writeTinyModelDir(dir, 'qwen2');
  const script = `import { loadModel } from '${join(REPO_ROOT, 'src/engine/io/load.ts')}'; import { CausalLM } from '${join(REPO_ROOT, 'src/engine/model.ts')}'; import { blasInfo } from '${join(REPO_ROOT, 'src/engine/blas.ts')}';
const l = await loadModel('${dir}'); const m = new CausalLM(l.config, l.weights);
console.log(JSON.stringify({ backend: blasInfo().backend, lp: Array.from(m.groupLogprobs([{ prompt: [5, 17], completions: [[42, 8, 99, 3], [7]] }], { adapter: false, temperature: 1 })) }));`;
  writeFileSync(join(tmp, 'blas.mts'), script);
  const run = (env: Record<string, string>) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(tmp, 'blas.mts')], { env: { ...process.env, ...env } }).toString()) as { backend: string; lp: number[] };
  const js = run({ SQLRL_BLAS: 'js' });
  const portable = run({ SQLRL_BLAS: 'none' });
  const native = run({ SQLRL_BLAS: 'auto' }); // whatever SQLRL_BLAS this test runs under
  if (native.backend !== 'openblas' && !REQUIRE_ALL) return t.skip('needs OpenBLAS: apt-get install libopenblas0-pthread');
  assert.equal(js.backend, 'js');
  assert.equal(portable.backend, 'wasm');
  assert.equal(native.backend, 'openblas');
  js.lp.forEach((v, i) => assert.ok(Math.abs(v - native.lp[i]!) < 1e-5, `js logprob ${i}: ${v} vs ${native.lp[i]}`));
  portable.lp.forEach((v, i) => assert.ok(Math.abs(v - native.lp[i]!) < 1e-5, `portable logprob ${i}: ${v} vs ${native.lp[i]}`));
});

function pyRef(req: Record<string, unknown>): Record<string, unknown> {
  const file = join(tmp, `req-${Math.random()}.json`);
  writeFileSync(file, JSON.stringify(req));
  return JSON.parse(execFileSync(python('torch', 'numpy'), [join(REPO_ROOT, 'test/engine/ref/llama_ref.py'), file], { maxBuffer: 1 << 28 }).toString()) as Record<string, unknown>;
}

for (const [label, kind, over, tol] of [
  ['tiny Qwen2 (bias, GQA, tied embeddings)', 'qwen2', {}, 2e-5],
  ['tiny Llama (separate LM head)', 'llama', {}, 2e-5],
  ['2-layer model with Qwen2-0.5B dimensions (896 hidden, 14 heads, 2 KV heads, 4864 MLP)', 'qwen2', { hiddenSize: 896, numHeads: 14, numKvHeads: 2, headDim: 64, intermediateSize: 4864, ropeTheta: 1000000 }, 2e-4],
] as const) {
  test(`PyTorch float64 reference, ${label}: a group's logprobs and every LoRA gradient equal K separate float64 sequences`, { skip: skipUnlessPython('torch', 'numpy') }, () => {
    const dir = join(tmp, `ref-${kind}-${label.length}`);
    writeTinyModelDir(dir, kind, 7, over, over.hiddenSize ? 0.03 : 0.3);
    const loaded = loadHfDir(dir);
    const m = new CausalLM(loaded.config, loaded.weights);
    const lora = { r: 4, alpha: 8, dropout: 0, targetModules: [...ALL] };
    const params = attachLora(m, lora, 5);
    randomizeAdapters(params);
    saveLora(join(dir, 'adapter'), m, lora, dir);
    const group: GroupInput = { prompt: [1, 45, 12, 200, 7], completions: [[88, 3, 150, 9, 21, 60, 2], [88, 4], [13]] };
    const w = weightsFor(group);
    const ref = pyRef({ op: 'group', model: dir, adapter: join(dir, 'adapter'), prompt: group.prompt, completions: group.completions, temperature: 0.8, g: w.map((x) => Array.from(x)) }) as { logprobs: number[][]; grads: Record<string, number[]> };
    for (const keep of ['all', 'inputs'] as const) {
      const got = groupGrad(m, params, group, w, { adapter: true, temperature: 0.8, keep, reuse: keep === 'inputs' });
      const lpErr = Math.max(...Array.from(got.lp, (v, i) => Math.abs(v - ref.logprobs.flat()[i]!)));
      const gErr = relErr(got.grads, params.map((p) => ref.grads[p.name]!));
      console.log(`${label}, keep ${keep}: max |logprob − torch float64| ${lpErr.toExponential(2)}, gradient relative error ${gErr.toExponential(2)}`);
      assert.ok(lpErr < (over.hiddenSize ? 2e-3 : 2e-4), `logprobs: ${lpErr}`);
      assert.ok(gErr < tol * 10, `gradients: ${gErr}`);
    }
  });
}

test('a saved PEFT adapter reloads to identical logprobs; adapter off is the base model', () => {
  const dir = join(tmp, 'peft');
  writeTinyModelDir(dir, 'llama');
  const l = loadHfDir(dir);
  const m = new CausalLM(l.config, l.weights);
  const cfg = { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] as ('q_proj' | 'v_proj')[] };
  randomizeAdapters(attachLora(m, cfg, 1));
  saveLora(join(dir, 'adapter'), m, cfg, dir);
  const m2 = new CausalLM(l.config, loadHfDir(dir).weights);
  loadLora(join(dir, 'adapter'), m2);
  const g = [{ prompt: [3], completions: [[4, 5, 6, 7]] }];
  const a = m.groupLogprobs(g, { adapter: true, temperature: 1 });
  const b = m2.groupLogprobs(g, { adapter: true, temperature: 1 });
  assert.deepEqual(Array.from(a), Array.from(b));
  const off = m2.groupLogprobs(g, { adapter: false, temperature: 1 });
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
  const g = [{ prompt: [3], completions: [[4, 5, 6, 7]] }];
  const a = m.groupLogprobs(g, { adapter: true, temperature: 1 });
  const b = merged.groupLogprobs(g, { adapter: false, temperature: 1 });
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-5));
});

test('LoRA dropout: gradients match finite differences under the pass\'s mask, and checkpointing recomputes the same mask', () => {
  const c = tinyConfig('llama');
  const m = new CausalLM(c, tinyWeights(c));
  const params = attachLora(m, { r: 2, alpha: 4, dropout: 0.3, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 3);
  randomizeAdapters(params);
  const g: GroupInput = { prompt: [5, 17, 42], completions: [[8, 99, 3, 77], [8, 1]] };
  const w = weightsFor(g);
  const wf = flat(w);
  const seed = 99;
  const withMask = (keep: Keep) => {
    for (const p of params) p.grad.fill(0);
    const { logprobs, tape } = m.forward(packGroups([g]), { adapter: true, temperature: 1, keep, dropSeed: seed });
    if (keep !== 'none') m.backward(tape!, wf);
    return logprobs.reduce((s, v, i) => s + v * wf[i]!, 0);
  };
  withMask('inputs');
  const ckpt = params.map((p) => p.grad.slice());
  withMask('all');
  const full = params.map((p) => p.grad.slice());
  assert.ok(relErr(ckpt, full) < 1e-6, `checkpointing with dropout: ${relErr(ckpt, full)}`);
  const off = m.groupLogprobs([g], { adapter: true, temperature: 1 });
  const on = m.forward(packGroups([g]), { adapter: true, temperature: 1, keep: 'none', dropSeed: seed }).logprobs;
  assert.notDeepEqual(Array.from(on), Array.from(off), 'the mask changes the logprobs');
  let worst = 0;
  params.forEach((p, j) => {
    for (const i of [0, Math.floor(p.data.length / 2), p.data.length - 1]) {
      const old = p.data[i]!;
      p.data[i] = old + 1e-2;
      const up = withMask('none');
      p.data[i] = old - 1e-2;
      const down = withMask('none');
      p.data[i] = old;
      const fd = (up - down) / 2e-2;
      worst = Math.max(worst, Math.abs(fd - full[j]![i]!) / Math.max(2e-3, Math.abs(fd) + Math.abs(full[j]![i]!)));
    }
  });
  assert.ok(worst < 3e-2, `worst relative error ${worst}`);
});
