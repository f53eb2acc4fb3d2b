// `sqlrl train` refuses runs that would learn nothing (one line, exit 2, nothing written) or states what
// it adjusted; a SIGTERM stops it with a checkpoint that --resume continues identically; a run killed
// before its first checkpoint resumes without duplicated metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-checks-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'tiny');
// room for the sample dataset's plain/think prompts (2,152–2,463 tokens with the tiny tokenizer; compact 323–381)
writeTinyModelDir(model, 'llama', 1, { maxPositionEmbeddings: 4096 });

const base = ['train', '--model', model, '--dataset', 'sample', '--reward-extract', 'lenient', '--num-generations', '3', '--batch-size', '2', '--max-steps', '4', '--eval-every', '0', '--max-completion-length', '6', '--learning-rate', '0.01', '--temperature', '1', '--seed', '3', '--quiet'];
const withOut = (name: string, ...extra: string[]) => [...base, ...extra, '--output', join(tmp, name)];

function metrics(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .map(({ time, sec_sampling, sec_rewards, sec_update, ...rest }) => rest);
}

test('refused before anything is written, one line naming the fix: a template the reward cannot read, prompts too long, micro-batches that do not divide the batch', async () => {
  const cases: [string[], RegExp][] = [
    [['--template', 'plain', '--reward', 'sql-r1'], /^sqlrl: --template plain asks for answers that reward 'sql-r1' cannot score .* use --template think/],
    [['--template', 'compact', '--max-prompt-length', '30'], /prompts exceed --max-prompt-length 30 \(longest \d+ tokens\).*--long-prompts drop/],
    [['--template', 'compact', '--gradient-accumulation-steps', '3'], /gradientAccumulationSteps: batch-size 2 does not split into 3 micro-batches/],
  ];
  for (const [extra, msg] of cases) {
    const out = join(tmp, `bad-${extra.join('')}`);
    const r = await runCli([...base, ...extra, '--output', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(out), `${out} was created`);
  }
});

test('adjustments are said: the template follows the reward, too-long prompts dropped with a count, no held-out split for a jsonl-like dataset', async () => {
  const r = await runCli(withOut('adjust', '--reward', 'seed-000', '--max-steps', '1', '--max-prompt-length', '2174', '--long-prompts', 'drop', '--eval-every', '1', '--eval-limit', '2'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /--template plain \(the format reward 'seed-000' scores\)/);
  assert.match(r.stderr, /no held-out split for --dataset sample: evaluating on the training file itself/);
  assert.match(r.stderr, /\d+ training examples left out: prompt longer than --max-prompt-length 2174 \(longest 2210 tokens\)/);
});

test('KL under full-parameter training: the reference is a frozen copy of the initial weights, so the KL term is not 0 once the policy moves', async () => {
  const out = join(tmp, 'kl-full');
  const r = await runCli([...base, '--template', 'compact', '--train', 'full', '--beta', '0.04', '--learning-rate', '0.003', '--no-drop-zero-std-groups', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /frozen copy of the initial weights/);
  const kl = metrics(out)
    .filter((m) => m.kind === 'train')
    .map((m) => m.kl as number);
  assert.ok(kl[0]! < 1e-9, `step 1: policy = reference, kl ${kl[0]}`);
  assert.ok(kl.slice(1).some((k) => k > 1e-6), `kl ${kl}`);
});

async function runUntil(out: string, extra: string[], ready: () => boolean, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/sqlrl-cli.ts'), ...base, ...extra, '--output', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setInterval(() => {
    if (ready()) {
      clearInterval(timer);
      child.kill(signal);
    }
  }, 10);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearInterval(timer);
  return { code, stderr };
}

const trainLines = (out: string) => (existsSync(join(out, 'metrics.jsonl')) ? readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"kind":"train"')).length : 0);

test('SIGTERM: the step finishes, a checkpoint is written, the exit says how to resume, and --resume continues to the same metrics', async () => {
  const extra = ['--template', 'compact', '--max-steps', '40', '--save-every', '100'];
  const ref = join(tmp, 'sig-ref');
  assert.equal((await runCli([...base, ...extra, '--output', ref])).code, 0);
  const out = join(tmp, 'sig');
  const r = await runUntil(out, extra, () => trainLines(out) >= 2, 'SIGTERM');
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGTERM: stopping after this step/);
  const stopped = /stopped at step (\d+) of 40; checkpoint written\. Continue with the same command plus --resume/.exec(r.stderr);
  assert.ok(stopped, r.stderr);
  assert.ok(existsSync(join(out, 'checkpoints', `step-${stopped[1]}`, 'trainer_state.json')));
  const resumed = await runCli([...base, ...extra, '--output', out, '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(metrics(out), metrics(ref));
});

test('killed before the first checkpoint: --resume starts clean, no metrics twice', async () => {
  const extra = ['--template', 'compact', '--max-steps', '6', '--save-every', '50'];
  const ref = join(tmp, 'early-ref');
  assert.equal((await runCli([...base, ...extra, '--output', ref])).code, 0);
  const out = join(tmp, 'early');
  await runUntil(out, extra, () => trainLines(out) >= 2, 'SIGKILL');
  assert.ok(trainLines(out) >= 2);
  const resumed = await runCli([...base, ...extra, '--output', out, '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(metrics(out), metrics(ref));
});

test('sandbox workers killed with SIGKILL during training are replaced: the run finishes every step', async () => {
  // a short SFT first, so that the policy writes SQL and the rewards and evaluations keep the sandbox busy
  const sft = join(tmp, 'kill-sft');
  const s = await runCli(['sft', '--model', model, '--dataset', 'sample', '--template', 'compact', '--limit', '8', '--batch-size', '8', '--max-steps', '60', '--learning-rate', '0.03', '--eval-every', '0', '--save-every', '0', '--train', 'full', '--quiet', '--output', sft]);
  assert.equal(s.code, 0, s.stderr);
  const out = join(tmp, 'kill-workers');
  const args = base.map((a) => (a === model ? join(sft, 'final') : a));
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/sqlrl-cli.ts'), ...args, '--template', 'compact', '--max-completion-length', '24', '--max-steps', '30', '--eval-every', '1', '--eval-limit', '6', '--output', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let kills = 0;
  const timer = setInterval(() => {
    if (trainLines(out) < 1) return;
    // the trainer's sandbox workers are its child processes running executor-worker
    const ps = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)], { encoding: 'utf8' }).stdout;
    const worker = ps.split('\n').find((l) => l.includes('executor-worker'));
    if (worker) {
      process.kill(Number(worker.trim().split(/\s+/)[0]), 'SIGKILL');
      kills++;
    }
  }, 150);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearInterval(timer);
  assert.equal(code, 0, stderr);
  assert.ok(kills >= 2, `only ${kills} workers were killed`);
  assert.equal(trainLines(out), 30);
  assert.ok(existsSync(join(out, 'final', 'adapter_model.safetensors')));
});

test('--max-minutes ends the run as if at its last step: final adapter and report after fewer steps', async () => {
  const out = join(tmp, 'max-minutes');
  const r = await runCli([...base, '--template', 'compact', '--max-steps', '500', '--save-every', '0', '--max-minutes', '0.02', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  const steps = trainLines(out);
  assert.ok(steps >= 1 && steps < 500, `${steps} steps`);
  assert.ok(existsSync(join(out, 'final', 'adapter_model.safetensors')));
  assert.equal(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).steps, steps);
});
