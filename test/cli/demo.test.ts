// `sqlrl demo` end to end at a tiny scale (the full run is the README's main job; its figures are in the notes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

test('sqlrl demo: builds the model, SFT, GRPO, before/after report', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-demo-'));
  try {
    const out = join(tmp, 'demo');
    const r = await runCli(['demo', '--output', out, '--sft-steps', '20', '--grpo-steps', '2', '--eval-limit', '12', '--quiet'], { env: { SQLRL_CACHE: join(tmp, 'cache') } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /held-out execution accuracy \(12 questions, greedy, strict comparison\)/);
    assert.match(r.stdout, /all\s+12\s+\d+\.\d%\s+\d+\.\d%\s+delta/);
    for (const f of ['model/config.json', 'model/tokenizer.json', 'sft/final/model.safetensors', 'grpo/final/adapter_model.safetensors', 'grpo/metrics.jsonl', 'report.json', 'report.html', 'eval-sft.json', 'eval-grpo.json']) assert.ok(existsSync(join(out, f)), f);
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { sft_ex: number; grpo_ex: number; heldout: number };
    assert.equal(rep.heldout, 12);
    const again = await runCli(['demo', '--output', out, '--quiet']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists \(pass --force/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
