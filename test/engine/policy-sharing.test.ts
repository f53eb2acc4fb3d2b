// CpuPolicy, at inference, computes prompts that begin alike from their shared beginning (one
// database's schema, many questions). What it samples must be what computing every prompt whole gives;
// the sharing must actually happen (fewer prompt rows computed), also across calls through the kept
// beginnings; and a training policy never shares (a resumed run must repeat its metrics exactly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuPolicy, type CpuPolicyOptions } from '../../src/engine/policy.js';
import type { PrefixState } from '../../src/engine/model.js';
import type { Sample } from '../../src/interfaces/policy.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

test('shared prompt beginnings: the same samples and logprobs as whole prompts, with fewer prompt rows computed; never while training', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-share-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeTinyModelDir(dir, 'llama');
  const head = Array.from({ length: 72 }, (_, i) => (i * 29 + 3) % 290);
  const first = [[...head, 5, 6, 7], [...head, 5, 8], [...head, 40], Array.from({ length: 30 }, (_, i) => (i * 13 + 1) % 290)];
  // a later call: two more questions on the same "schema", one alone
  const second = [[...head, 9, 9], [...head, 11], Array.from({ length: 20 }, (_, i) => (i * 17 + 2) % 290)];
  const run = async (opts: CpuPolicyOptions) => {
    const policy = await CpuPolicy.load(dir, opts);
    const rows: number[] = [];
    let n = 0;
    const m = policy.model;
    const prefill = m.prefillMany.bind(m);
    const extend = m.extendMany.bind(m);
    m.prefillMany = (ps, adapter, keep) => ((n += ps.reduce((a, p) => a + p.length, 0)), prefill(ps, adapter, keep));
    m.extendMany = (items, keep): PrefixState[] => ((n += items.reduce((a, it) => a + it.suffix.length, 0)), extend(items, keep));
    const samples: Sample[][][] = [];
    for (const prompts of [first, second]) {
      n = 0;
      samples.push(await policy.sample(prompts.map((prompt, i) => ({ prompt, n: 2, seed: i })), { maxNewTokens: 6, temperature: 1 }));
      rows.push(n);
    }
    return { rows, samples };
  };
  const whole = await run({ sharePrefixes: false });
  const shared = await run({});
  const training = await run({ train: { kind: 'lora', lora: { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] } } });
  const total = (ps: number[][]) => ps.reduce((a, p) => a + p.length, 0);
  assert.deepEqual(whole.rows, [total(first), total(second)]);
  assert.deepEqual(training.rows, [total(first), total(second)]);
  // first call: the beginning once (72 rows: prompts 0 and 1 share 73 tokens, prompt 2 only 72), the
  // three rests (3 + 2 + 1), the unrelated prompt whole (30); second call: the kept 72-token beginning
  // serves both questions (2 + 1 rows), the unrelated prompt whole (20)
  assert.deepEqual(shared.rows, [72 + 6 + 30, 3 + 20]);
  shared.samples.forEach((call, c) =>
    call.forEach((g, i) =>
      g.forEach((s, k) => {
        const w = whole.samples[c]![i]![k]!;
        assert.deepEqual(s.tokens, w.tokens, `call ${c} prompt ${i} sample ${k}`);
        s.logprobs.forEach((v, j) => assert.ok(Math.abs(v - w.logprobs[j]!) < 1e-5, `call ${c} prompt ${i} sample ${k} token ${j}: ${v} vs ${w.logprobs[j]}`));
      }),
    ),
  );
});
