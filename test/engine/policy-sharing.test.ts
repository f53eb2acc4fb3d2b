// CpuPolicy computes prompts that begin alike from their shared beginning (one database's schema, many
// questions). What it samples, and the gradients of the update that reuses those prompts, must be what
// computing every prompt whole gives; and the sharing must actually happen (fewer prompt rows computed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuPolicy } from '../../src/engine/policy.js';
import type { PrefixState } from '../../src/engine/model.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

test('shared prompt beginnings: the same samples, logprobs and gradients as whole prompts, with fewer prompt rows computed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-share-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeTinyModelDir(dir, 'llama');
  const head = Array.from({ length: 72 }, (_, i) => (i * 29 + 3) % 290);
  const prompts = [[...head, 5, 6, 7], [...head, 5, 8], [...head, 40], Array.from({ length: 30 }, (_, i) => (i * 13 + 1) % 290)];
  const run = async (share: boolean) => {
    const policy = await CpuPolicy.load(dir, { train: { kind: 'lora', lora: { r: 2, alpha: 4, dropout: 0, targetModules: [...ALL] } }, seed: 3, sharePrefixes: share });
    // non-zero adapters, the same in both policies
    for (const p of policy.params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.1 * Math.sin(i * 3.1 + p.name.length);
    let rows = 0;
    const m = policy.model;
    const prefill = m.prefillMany.bind(m);
    const extend = m.extendMany.bind(m);
    m.prefillMany = (ps, adapter, keep) => ((rows += ps.reduce((a, p) => a + p.length, 0)), prefill(ps, adapter, keep));
    m.extendMany = (items, keep): PrefixState[] => ((rows += items.reduce((a, it) => a + it.suffix.length, 0)), extend(items, keep));
    const samples = await policy.sample(prompts.map((prompt, i) => ({ prompt, n: 2, seed: i })), { maxNewTokens: 6, temperature: 1 });
    const groups = prompts.map((prompt, i) => ({ prompt, completions: samples[i]!.map((s) => s.tokens) }));
    const lp = await policy.backward(groups, groups.map((g) => g.completions.map((c) => Float32Array.from(c, (_, j) => Math.cos(j + 1)))));
    return { rows, samples, lp, grads: policy.params.map((p) => p.grad.slice()) };
  };
  const whole = await run(false);
  const shared = await run(true);
  assert.equal(whole.rows, prompts.reduce((a, p) => a + p.length, 0));
  // the beginning once (72 rows), the three rests (3 + 2 + 1), the unrelated prompt whole (30)
  assert.equal(shared.rows, 72 + 6 + 30);
  shared.samples.forEach((g, i) =>
    g.forEach((s, k) => {
      assert.deepEqual(s.tokens, whole.samples[i]![k]!.tokens, `prompt ${i} sample ${k}`);
      s.logprobs.forEach((v, j) => assert.ok(Math.abs(v - whole.samples[i]![k]!.logprobs[j]!) < 1e-5, `prompt ${i} sample ${k} token ${j}`));
    }),
  );
  shared.lp.flat().forEach((x, i) => x.forEach((v, j) => assert.ok(Math.abs(v - whole.lp.flat()[i]![j]!) < 1e-5)));
  let num = 0;
  let den = 0;
  shared.grads.forEach((g, i) => g.forEach((v, j) => ((num += (v - whole.grads[i]![j]!) ** 2), (den += whole.grads[i]![j]! ** 2))));
  assert.ok(den > 0, 'the update computed no gradient');
  assert.ok(Math.sqrt(num / den) < 1e-5, `gradients: relative error ${Math.sqrt(num / den)}`);
});
