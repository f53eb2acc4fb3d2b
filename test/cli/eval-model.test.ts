// Generation-based evaluation, end to end: `sqlrl eval --endpoint` against a real `sqlrl serve-model` running
// the test model (no mock server), interrupted and resumed from its cache; `sqlrl eval --model` with
// self-consistency voting and pass@k.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { NO_TEST_MODEL, REPO_ROOT, TEST_MODEL_GGUF } from '../helpers/paths.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-evalm-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const cli = (args: string[]) => spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/sqlrl-cli.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

test('eval --endpoint against sqlrl serve-model (SmolLM2): interrupted, then resumed from the cache', { skip: NO_TEST_MODEL, timeout: 300_000 }, async () => {
  const server = cli(['serve-model', '--model', TEST_MODEL_GGUF, '--port', '0', '--name', 'smollm2']);
  children.push(server);
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    server.stderr!.on('data', (d) => {
      err += d;
      const m = /(http:\/\/[^\s]+\/v1)/.exec(err);
      if (m) resolve(m[1]!);
    });
    server.on('exit', () => reject(new Error(`serve-model exited: ${err}`)));
  });
  const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
  assert.deepEqual(models.data.map((m) => m.id), ['smollm2']);
  const completion = (await (
    await fetch(`${url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'smollm2', prompt: 'SELECT count(*) FROM', max_tokens: 4, temperature: 0, n: 2, logprobs: 1 }) })
  ).json()) as { choices: { index: number; text: string; finish_reason: string; logprobs?: { token_logprobs: number[] } }[]; usage: { completion_tokens: number } };
  assert.equal(completion.choices.length, 2);
  assert.equal(completion.choices[0]!.text, completion.choices[1]!.text, 'greedy: both choices equal');
  assert.equal(completion.choices[0]!.logprobs?.token_logprobs.length, 4);
  const bad = await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [] }) });
  assert.equal(bad.status, 400);
  const cache = join(tmp, 'gen.jsonl');
  const report = join(tmp, 'report.json');
  const args = ['eval', '--dataset', 'sample', '--endpoint', url, '--endpoint-model', 'smollm2', '--limit', '4', '--max-tokens', '24', '--concurrency', '1', '--cache', cache, '--report', report, '--quiet', '--template', 'compact'];
  // first run: killed once two generations are cached
  const first = cli(args);
  children.push(first);
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (existsSync(cache) && readFileSync(cache, 'utf8').trim().split('\n').length >= 2) {
        clearInterval(timer);
        first.kill('SIGKILL');
        resolve();
      }
    }, 50);
    first.on('exit', (code) => {
      clearInterval(timer);
      if (code !== null) reject(new Error(`first run ended on its own (${code}) before it was interrupted`));
    });
  });
  assert.ok(!existsSync(report));
  const second = await runCli(args.filter((a) => a !== '--quiet'));
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /resuming: [2-3] of 4 generations/);
  const rep = JSON.parse(readFileSync(report, 'utf8')) as { summary: { evaluated: number; generator: string }; examples: { completion?: string; status: string }[] };
  assert.equal(rep.summary.evaluated, 4);
  assert.equal(rep.summary.generator, 'endpoint:smollm2');
  assert.ok(rep.examples.every((e) => typeof e.completion === 'string'));
  assert.equal(readFileSync(cache, 'utf8').trim().split('\n').length, 4, 'every request generated once');
});

test('eval --model with n samples: greedy EX, self-consistency vote and pass@k in the report', async () => {
  const model = join(tmp, 'tiny');
  writeTinyModelDir(model, 'qwen2', 1, { maxPositionEmbeddings: 1024 });
  const report = join(tmp, 'sc.json');
  const r = await runCli(['eval', '--dataset', 'sample', '--model', model, '--limit', '3', '--n', '4', '--temperature', '1', '--max-tokens', '8', '--template', 'compact', '--report', report, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /self-consistency \(n=4, T=1, vote by execution result\): EX \d+\.\d%/);
  const rep = JSON.parse(readFileSync(report, 'utf8')) as { summary: { self_consistency: { n: number; pass_at_k: Record<string, number> } }; examples: { vote_status?: string; samples_correct?: number }[] };
  assert.equal(rep.summary.self_consistency.n, 4);
  assert.deepEqual(Object.keys(rep.summary.self_consistency.pass_at_k), ['1', '2', '4']);
  assert.ok(rep.examples.every((e) => typeof e.vote_status === 'string' && typeof e.samples_correct === 'number'));
  const both = await runCli(['eval', '--dataset', 'sample', '--model', model, '--pred', 'x.sql']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /pass only one of --pred, --model and --endpoint/);
});
