// AdamW against torch.optim.AdamW, gradient clipping, and the learning-rate schedules' exact values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, clipGradNorm, lrMultiplier } from '../../src/engine/optim.js';
import { lrAt } from '../../src/rl/schedule.js';
import type { Param } from '../../src/engine/model.js';
import { python, skipUnlessPython } from '../helpers/optional.js';

const W0 = [0.5, -1.2, 3.0, 0.01];
const GRADS = [[0.1, -0.2, 0.3, 0.0], [0.05, 0.4, -0.1, 1.0], [-0.3, 0.1, 0.2, -0.5], [0.2, 0.2, 0.2, 0.2], [1.0, -1.0, 0.5, -0.5]];
const OPTS = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

test('AdamW matches torch.optim.AdamW over 5 steps (weight decay, bias correction)', { skip: skipUnlessPython('torch') }, () => {
  const py = `
import torch, json
w = torch.tensor(${JSON.stringify(W0)}, dtype=torch.float64, requires_grad=True)
opt = torch.optim.AdamW([w], lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
for g in ${JSON.stringify(GRADS)}:
    w.grad = torch.tensor(g, dtype=torch.float64)
    opt.step()
print(json.dumps(w.tolist()))`;
  const ref = JSON.parse(execFileSync(python('torch'), ['-c', py]).toString()) as number[];
  const p: Param = { name: 'w', shape: [4], data: Float32Array.from(W0), grad: new Float32Array(4) };
  const opt = new AdamW([p], OPTS);
  for (const g of GRADS) {
    p.grad.set(g);
    opt.update();
  }
  p.data.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-6, `w[${i}] ${v} vs ${ref[i]}`));
});

test('AdamW matches torch.optim.AdamW (float32) on a tensor longer than a kernel chunk, its length not a multiple of 4', { skip: skipUnlessPython('torch') }, () => {
  const n = 16384 + 7;
  const w0 = Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.37)));
  const grads = [0, 1, 2].map((s) => Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i * 0.11 + s) * (i % 5 === 0 ? 0 : 0.3))));
  const py = `
import torch, json, sys
d = json.load(sys.stdin)
w = torch.tensor(d['w'], dtype=torch.float32, requires_grad=True)
opt = torch.optim.AdamW([w], lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
for g in d['g']:
    w.grad = torch.tensor(g, dtype=torch.float32)
    opt.step()
print(json.dumps(w.tolist()))`;
  const ref = JSON.parse(execFileSync(python('torch'), ['-c', py], { input: JSON.stringify({ w: w0, g: grads }), maxBuffer: 64 << 20 }).toString()) as number[];
  const p: Param = { name: 'w', shape: [n], data: Float32Array.from(w0), grad: new Float32Array(n) };
  const opt = new AdamW([p], OPTS);
  for (const g of grads) {
    p.grad.set(g);
    opt.update();
  }
  let worst = 0;
  p.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]!))));
  assert.ok(worst < 1e-6, `max |w − torch| ${worst}`);
});

test('AdamW state saved after step 3 and restored replays the last two steps to identical bits', () => {
  const p: Param = { name: 'w', shape: [4], data: Float32Array.from(W0), grad: new Float32Array(4) };
  const opt = new AdamW([p], OPTS);
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-optim-'));
  try {
    GRADS.forEach((g, i) => {
      p.grad.set(g);
      opt.update();
      if (i === 2) opt.save(dir);
    });
    // restore at step 3 and replay the last two steps: identical bits
    const q: Param = { name: 'w', shape: [4], data: new Float32Array(4), grad: new Float32Array(4) };
    const opt2 = new AdamW([q], opt.opts);
    opt2.load(dir);
    assert.equal(opt2.step, 3);
    const p3: Param = { name: 'w', shape: [4], data: Float32Array.from(W0), grad: new Float32Array(4) };
    const opt3 = new AdamW([p3], opt.opts);
    GRADS.slice(0, 3).forEach((g) => {
      p3.grad.set(g);
      opt3.update();
    });
    q.data.set(p3.data);
    GRADS.slice(3).forEach((g) => {
      q.grad.set(g);
      opt2.update();
    });
    assert.deepEqual(Array.from(q.data), Array.from(p.data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('global-norm clipping returns the norm before clipping and scales to max_norm', () => {
  const a: Param = { name: 'a', shape: [2], data: new Float32Array(2), grad: Float32Array.from([3, 0]) };
  const b: Param = { name: 'b', shape: [1], data: new Float32Array(1), grad: Float32Array.from([4]) };
  assert.equal(clipGradNorm([a, b], 1), 5);
  assert.ok(Math.abs(Math.hypot(a.grad[0]!, b.grad[0]!) - 1) < 1e-5);
  assert.equal(clipGradNorm([a, b], 0) < 1.0001, true, 'no clipping at 0');
});

test('schedules: transformers get_{constant,linear,cosine}_schedule_with_warmup values', () => {
  // warmup 10 of 100 steps
  assert.equal(lrMultiplier('cosine', 5, 100, 10), 0.5);
  assert.equal(lrMultiplier('cosine', 10, 100, 10), 1);
  assert.ok(Math.abs(lrMultiplier('cosine', 55, 100, 10) - 0.5) < 1e-12);
  assert.equal(lrMultiplier('cosine', 100, 100, 10), 0);
  assert.equal(lrMultiplier('linear', 55, 100, 10), 0.5);
  assert.equal(lrMultiplier('constant', 99, 100, 10), 1);
  // the trainer's schedule is the same function scaled by the base rate
  for (const s of ['constant', 'linear', 'cosine'] as const) for (const step of [0, 3, 10, 40, 99]) assert.ok(Math.abs(lrAt(2e-4, s, step, 100, 10) - 2e-4 * lrMultiplier(s, step, 100, 10)) < 1e-18);
});
