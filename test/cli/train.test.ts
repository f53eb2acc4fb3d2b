// `sqlrl train` and `sqlrl sft` end to end on a tiny model: the run files, an exact resume after kill -9,
// and bad configs refused with one line naming the field before anything is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-train-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const model = join(tmp, 'tiny');
writeTinyModelDir(model, 'llama', 1, { maxPositionEmbeddings: 1024 });

const base = ['train', '--model', model, '--dataset', 'sample', '--reward-extract', 'lenient', '--template', 'compact', '--num-generations', '3', '--batch-size', '2', '--max-steps', '6', '--save-every', '2', '--eval-every', '3', '--eval-limit', '4', '--max-completion-length', '6', '--learning-rate', '0.01', '--temperature', '1', '--seed', '7', '--quiet'];

/** metrics without wall-clock fields */
function metrics(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .map(({ time, sec_sampling, sec_rewards, sec_update, ...rest }) => rest);
}

test('sqlrl train writes config, metrics, samples, checkpoints, final adapter and report', async () => {
  const out = join(tmp, 'run-a');
  const r = await runCli([...base, '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['config.json', 'metrics.jsonl', 'samples.jsonl', 'report.json', 'final/adapter_config.json', 'final/adapter_model.safetensors']) assert.ok(existsSync(join(out, f)), f);
  const m = metrics(out);
  const train = m.filter((x) => x.kind === 'train');
  assert.deepEqual(train.map((x) => x.step), [1, 2, 3, 4, 5, 6]);
  for (const k of ['loss', 'reward_mean', 'reward_std', 'rewards', 'kl', 'clip_frac', 'entropy', 'completion_len_mean', 'zero_std_groups', 'groups', 'lr', 'grad_norm']) assert.ok(k in train[0]!, `metric ${k}`);
  assert.deepEqual(m.filter((x) => x.kind === 'eval').map((x) => x.step), [3, 6]);
  const samples = readFileSync(join(out, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(samples.length, 6 * 2 * 3);
  for (const k of ['step', 'example_id', 'group', 'k', 'question', 'db_id', 'gold_sql', 'completion', 'sql', 'status', 'reward', 'components', 'advantage']) assert.ok(k in samples[0], `sample field ${k}`);
  assert.deepEqual(readdirSync(join(out, 'checkpoints')).sort(), ['step-4', 'step-6']);
  // steps where every group's completions scored alike learn nothing: said at the first, counted at the end
  const idle = train.filter((x) => x.zero_std_groups === x.groups);
  const said = r.stderr.match(/step (\d+): in every group the 3 completions got the same reward/g) ?? [];
  assert.equal(said.length, idle.length ? 1 : 0, r.stderr);
  if (idle.length) {
    assert.match(r.stderr, new RegExp(`step ${idle[0]!.step as number}: in every group`));
    assert.match(r.stderr, new RegExp(`${idle.length} of 6 steps had no group whose rewards differed`));
  } else assert.doesNotMatch(r.stderr, /had no group whose rewards differed/);
});

test('killed with SIGKILL mid-run and resumed: metrics identical to the uninterrupted run', async () => {
  const ref = join(tmp, 'run-a');
  if (!existsSync(join(ref, 'report.json'))) assert.equal((await runCli([...base, '--output', ref])).code, 0);
  const out = join(tmp, 'run-b');
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/sqlrl-cli.ts'), ...base, '--output', out], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (existsSync(join(out, 'checkpoints', 'step-2', 'trainer_state.json'))) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve();
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error('the run finished before it could be killed'));
    });
  });
  await new Promise((r) => child.once('exit', r));
  assert.ok(!existsSync(join(out, 'report.json')), 'the run was interrupted');
  const r = await runCli([...base, '--output', out, '--resume']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(metrics(out), metrics(ref));
});

test('sqlrl sft: loss goes down on a handful of examples', async () => {
  const out = join(tmp, 'sft');
  const r = await runCli(['sft', '--model', model, '--dataset', 'sample', '--template', 'compact', '--limit', '4', '--batch-size', '4', '--max-steps', '30', '--learning-rate', '0.05', '--eval-every', '0', '--save-every', '0', '--train', 'full', '--quiet', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  const m = metrics(out).filter((x) => x.kind === 'train');
  assert.ok((m.at(-1)!.loss as number) < 0.5 * (m[0]!.loss as number), `loss ${m[0]!.loss} -> ${m.at(-1)!.loss}`);
  assert.ok(existsSync(join(out, 'final', 'model.safetensors')), 'full training saves a whole model');
});

test('bad configs: one line naming the field, nothing written', async () => {
  const cases: [string[], RegExp][] = [
    [['--num-generations', '1'], /numGenerations.*at least 2/],
    [['--reward', 'nope'], /unknown reward preset 'nope'/],
    [['--model', join(tmp, 'missing-model')], /model '.*missing-model' not found/],
  ];
  for (const [extra, msg] of cases) {
    const out = join(tmp, `bad-${extra[0]}`);
    const args = [...base, '--output', out];
    for (let i = 0; i < extra.length; i += 2) {
      const at = args.indexOf(extra[i]!);
      if (at >= 0) args.splice(at, 2, extra[i]!, extra[i + 1]!);
      else args.push(extra[i]!, extra[i + 1]!);
    }
    const r = await runCli(args);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(out), `${out} was created`);
  }
  const yaml = join(tmp, 'bad.yaml');
  writeFileSync(yaml, 'num_generations: 4\nlearning_rat: 0.1\n');
  const r = await runCli([...base, '--output', join(tmp, 'bad-yaml'), '--config', yaml]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /learning_rat|learningRat/);
  assert.ok(!existsSync(join(tmp, 'bad-yaml')));
});

test('dynamic sampling: more prompts are drawn until the batch has groups whose rewards differ, at most max-sample-batches', async () => {
  const out = join(tmp, 'run-dyn');
  const r = await runCli([...base, '--max-steps', '3', '--eval-every', '0', '--dynamic-sampling', '--max-sample-batches', '3', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  const train = metrics(out).filter((x) => x.kind === 'train');
  assert.equal(train.length, 3);
  for (const m of train) {
    const sampled = m.sampled_groups as number;
    const informative = m.informative_groups as number;
    assert.equal(m.groups, 2);
    assert.ok([2, 4, 6].includes(sampled), `sampled ${sampled}`);
    assert.ok(informative <= sampled);
    // drawing stops early only once two informative groups are in hand
    if (sampled < 6) assert.ok(informative >= 2, JSON.stringify(m));
    else assert.ok(informative >= 2 || informative === (m.groups as number) - (m.zero_std_groups as number));
  }
});
