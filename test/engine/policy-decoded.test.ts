// A training CpuPolicy sampling for the update (forUpdate) keeps what its decode computed for each
// completion, and the update that follows under the same weights reuses it: the training forward then
// computes no layer at all. The gradients must be those of a policy that computes every row (no kept
// state), the reuse must actually happen, later sampling rounds must add to what is kept (DAPO), and
// nothing may be kept by sampling not for the update (evaluation) nor outlive a weight change or the
// end of the update it was kept for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINEAR_NAMES } from '../../src/engine/block.js';
import { CpuPolicy } from '../../src/engine/policy.js';
import type { ForwardOptions } from '../../src/engine/model.js';
import type { Group } from '../../src/interfaces/policy.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

const LORA = { kind: 'lora' as const, lora: { r: 4, alpha: 8, dropout: 0, targetModules: [...LINEAR_NAMES] } };

for (const arch of ['llama', 'qwen2'] as const)
  test(`${arch}: an update over the completions just sampled reuses their decode states and gets the gradients of a full forward`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sqlrl-decoded-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeTinyModelDir(dir, arch);
    const prompts = [Array.from({ length: 23 }, (_, i) => (i * 31 + 7) % 290), Array.from({ length: 9 }, (_, i) => (i * 11 + 2) % 290)];
    const reusing = await CpuPolicy.load(dir, { train: LORA, seed: 3 });
    const computing = await CpuPolicy.load(dir, { train: LORA, seed: 3 });
    // the same nonzero adapter in both (B starts at zero: give it values)
    reusing.params.forEach((p, i) => p.data.forEach((_, j) => (p.data[j] = computing.params[i]!.data[j] = Math.sin(i * 7 + j) * 0.05)));
    const seen: ForwardOptions[] = [];
    const forward = reusing.model.forward.bind(reusing.model);
    reusing.model.forward = (batch, o) => (seen.push(o), forward(batch, o));
    // two sampling rounds (dynamic sampling draws more prompts until enough groups are informative)
    const samples = [
      ...(await reusing.sample([{ prompt: prompts[0]!, n: 3, seed: 5 }], { maxNewTokens: 7, temperature: 1, forUpdate: true })),
      ...(await reusing.sample([{ prompt: prompts[1]!, n: 3, seed: 6 }], { maxNewTokens: 7, temperature: 1, forUpdate: true })),
    ];
    const groups: Group[] = prompts.map((prompt, i) => ({ prompt, completions: samples[i]!.map((s) => s.tokens) }));
    assert.ok(groups.some((g) => g.completions.some((c) => c.length > 2)), 'some completion has rows to reuse');
    const dLogprob = groups.map((g, i) => g.completions.map((c, k) => Float32Array.from(c, (_, j) => Math.cos(i + k * 3 + j))));
    const lpReused = await reusing.backward(groups, dLogprob);
    assert.equal(seen.length, 1);
    assert.ok(seen[0]!.completions && seen[0]!.prefixes, 'the update used the kept prompts and completions');
    const lpComputed = await computing.backward(groups, dLogprob);
    lpReused.forEach((g, i) => g.forEach((l, k) => l.forEach((v, j) => assert.ok(Math.abs(v - lpComputed[i]![k]![j]!) < 2e-5, `logprob ${i}/${k}/${j}`))));
    lpReused.forEach((g, i) => g.forEach((l, k) => l.forEach((v, j) => assert.ok(Math.abs(v - samples[i]![k]!.logprobs[j]!) < 2e-5, `sampled logprob ${i}/${k}/${j}`))));
    reusing.params.forEach((p, i) => {
      const q = computing.params[i]!;
      let diff = 0;
      let norm = 0;
      p.grad.forEach((g, j) => ((diff = Math.max(diff, Math.abs(g - q.grad[j]!))), (norm = Math.max(norm, Math.abs(q.grad[j]!)))));
      assert.ok(norm > 0, `${p.name}: a gradient`);
      assert.ok(diff <= 1e-4 * norm + 1e-7, `${p.name}: max |Δ| ${diff} against max |g| ${norm}`);
    });
    // after a step the weights changed: nothing is reused
    reusing.step();
    seen.length = 0;
    await reusing.backward(groups, dLogprob);
    assert.ok(!seen[0]!.completions && !seen[0]!.prefixes, 'nothing kept across a weight change');
    // sampling not for the update (an evaluation) keeps nothing
    const evaluated = await reusing.sample([{ prompt: prompts[0]!, n: 2, seed: 9 }], { maxNewTokens: 4, temperature: 1 });
    seen.length = 0;
    await reusing.backward([{ prompt: prompts[0]!, completions: evaluated[0]!.map((s) => s.tokens) }], [evaluated[0]!.map((s) => new Float32Array(s.tokens.length).fill(1))]);
    assert.ok(!seen[0]!.completions, 'completions sampled without forUpdate are not kept');
    // an update that ends without a step (nothing had gradient) still lets go of what sampling kept
    const again = await reusing.sample([{ prompt: prompts[1]!, n: 2, seed: 11 }], { maxNewTokens: 5, temperature: 1, forUpdate: true });
    reusing.endUpdate();
    seen.length = 0;
    await reusing.backward([{ prompt: prompts[1]!, completions: again[0]!.map((s) => s.tokens) }], [again[0]!.map((s) => new Float32Array(s.tokens.length).fill(1))]);
    assert.ok(!seen[0]!.completions && !seen[0]!.prefixes, 'nothing kept after the update ended');
  });
