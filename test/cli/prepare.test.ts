// `sqlrl prepare` end to end through the CLI: Spider dev as verl parquet (read back in TypeScript with
// hyparquet, and in Python with pyarrow, then scored through the Python adapter against a live
// `sqlrl serve`), TRL and OpenRLHF rows scored by the same server, prompt lengths in the model's
// tokens, and the errors users hit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { runCli } from '../helpers/cli.js';
import { python, skipUnlessPython } from '../helpers/optional.js';
import { NO_SPIDER, NO_TEST_MODEL, REPO_ROOT, SPIDER_DIR, TEST_MODEL_GGUF } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-prepare-'));
const servers: ChildProcess[] = [];
after(() => {
  for (const s of servers) s.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

/** A real `sqlrl serve` on a free port; resolves with its URL. */
function serve(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/sqlrl-cli.ts'), 'serve', '--port', '0', '--workers', '2', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    servers.push(p);
    let err = '';
    p.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /sqlrl serve: (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    p.on('exit', (code) => reject(new Error(`sqlrl serve exited ${code}: ${err}`)));
  });
}

const think = (sql: string) => `<think>\nThe question asks for this.\n</think>\n<answer>\n\`\`\`sql\n${sql}\n\`\`\`\n</answer>`;

type Row = Record<string, unknown> & { extra_info: { example_id: string; index: bigint | number } };

test('spider dev -> verl parquet: 972 rows (1034 less the 62 on the missing wta_1), the verl columns, read back with hyparquet', { skip: NO_SPIDER }, async () => {
  const out = join(tmp, 'verl');
  const r = await runCli(['prepare', '--dataset', 'spider', '--data-dir', SPIDER_DIR, '--split', 'dev', '--template', 'think', '--format', 'verl', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `wrote 972 rows to ${join(out, 'dev.parquet')} (1034 loaded; left out: 62 database missing); summary beside it\n`);
  assert.match(r.stderr, /left out 62 example\(s\) whose database is missing \(wta_1\)/);
  assert.match(r.stderr, /prompt lengths not checked against --max-prompt-length 4096: pass --tokenizer MODEL/);
  const rows = (await parquetReadObjects({ file: await asyncBufferFromFile(join(out, 'dev.parquet')) })) as Row[];
  assert.equal(rows.length, 972);
  const first = rows[0]!;
  assert.deepEqual(Object.keys(first), ['data_source', 'prompt', 'ability', 'reward_model', 'extra_info']);
  assert.equal(first.data_source, 'spider');
  assert.equal(first.ability, 'text2sql');
  assert.deepEqual(first.reward_model, { style: 'rule', ground_truth: '{"db_id":"concert_singer","gold_sql":"SELECT count(*) FROM singer"}' });
  assert.deepEqual({ ...first.extra_info, index: Number(first.extra_info.index) }, { split: 'dev', index: 0, example_id: 'spider-dev-0000', db_id: 'concert_singer' });
  const prompt = first.prompt as { role: string; content: string }[];
  assert.deepEqual(prompt.map((m) => m.role), ['user']);
  assert.ok(prompt[0]!.content.includes('Question:\nHow many singers do we have?\n'));
  assert.ok(prompt[0]!.content.includes('<think> </think> and <answer> </answer>'));
  // dataset order, without the missing database's examples (indices 429-490)
  assert.deepEqual([rows[428]!.extra_info.example_id, rows[429]!.extra_info.example_id], ['spider-dev-0428', 'spider-dev-0491']);
  const summary = JSON.parse(readFileSync(join(out, 'dev.verl.summary.json'), 'utf8')) as { rows: number; left_out: Record<string, number>; examples_left_out: { id: string }[] };
  assert.equal(summary.rows, 972);
  assert.equal(summary.left_out.database_missing, 62);
  assert.equal(summary.examples_left_out[0]!.id, 'spider-dev-0429');
});

test('the verl file in Python: pyarrow reads the columns; compute_score through a live sqlrl serve gives acc 1 for the gold answer, 0 for a wrong one', { skip: NO_SPIDER || skipUnlessPython('pyarrow') }, async () => {
  const out = join(tmp, 'verl');
  if (!existsSync(join(out, 'dev.parquet'))) {
    const r = await runCli(['prepare', '--dataset', 'spider', '--data-dir', SPIDER_DIR, '--split', 'dev', '--format', 'verl', '--output', out]);
    assert.equal(r.code, 0, r.stderr);
  }
  const url = await serve(['--dataset', 'spider', '--data-dir', SPIDER_DIR, '--split', 'dev', '--reward', 'arctic']);
  const py = spawnSync(python('pyarrow'), [join(REPO_ROOT, 'test/prepare/check_verl_parquet.py'), join(out, 'dev.parquet'), url, '5'], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  const res = JSON.parse(py.stdout) as { num_rows: number; columns: string[]; types: Record<string, string>; first: Record<string, unknown>; first_prompt_roles: string[]; scored: { example_id: string; right: number[]; wrong: number[] }[] };
  assert.equal(res.num_rows, 972);
  assert.deepEqual(res.columns, ['data_source', 'prompt', 'ability', 'reward_model', 'extra_info']);
  assert.match(res.types.prompt!, /^list<element: struct<role: string not null, content: string not null>/);
  assert.match(res.types.reward_model!, /^struct<style: string not null, ground_truth: string not null>/);
  assert.deepEqual(res.first.extra_info, { split: 'dev', index: 0, example_id: 'spider-dev-0000', db_id: 'concert_singer' });
  assert.deepEqual(res.first_prompt_roles, ['user']);
  assert.deepEqual(res.scored.map((s) => s.example_id), ['spider-dev-0000', 'spider-dev-0001', 'spider-dev-0002', 'spider-dev-0003', 'spider-dev-0004']);
  // arctic: 1 for a match (acc 1); 0.1 for SQL that runs but is wrong (acc 0)
  for (const s of res.scored) assert.deepEqual({ right: s.right, wrong: s.wrong }, { right: [1, 1], wrong: [0.1, 0] }, s.example_id);
});

test('TRL rows (example ids) and OpenRLHF rows (db_id + gold_sql labels) are scored by a live sqlrl serve', { skip: NO_SPIDER }, async () => {
  const trlOut = join(tmp, 'trl');
  const orOut = join(tmp, 'openrlhf');
  const a = await runCli(['prepare', '--dataset', 'spider', '--data-dir', SPIDER_DIR, '--split', 'dev', '--limit', '20', '--format', 'trl', '--ground-truth', 'id', '--output', trlOut]);
  assert.equal(a.code, 0, a.stderr);
  const b = await runCli(['prepare', '--dataset', 'spider', '--data-dir', SPIDER_DIR, '--split', 'dev', '--limit', '20', '--format', 'openrlhf', '--output', orOut]);
  assert.equal(b.code, 0, b.stderr);
  const trl = readFileSync(join(trlOut, 'dev.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { prompt: { role: string; content: string }[]; example_id: string });
  const orl = readFileSync(join(orOut, 'dev.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { input: { role: string; content: string }[]; label: string; datasource: string });
  assert.equal(trl.length, 20);
  assert.deepEqual(Object.keys(trl[0]!), ['prompt', 'example_id']);
  assert.equal(trl[3]!.example_id, 'spider-dev-0003');
  assert.deepEqual(Object.keys(orl[0]!), ['input', 'label', 'datasource']);
  assert.deepEqual(orl[0]!.input, trl[0]!.prompt, 'the same prompt in every format');
  assert.deepEqual(JSON.parse(orl[0]!.label), { db_id: 'concert_singer', gold_sql: 'SELECT count(*) FROM singer' });

  const url = await serve(['--dataset', 'spider', '--data-dir', SPIDER_DIR, '--split', 'dev', '--reward', 'arctic']);
  const golds = orl.map((r) => (JSON.parse(r.label) as { gold_sql: string }).gold_sql);
  // TRL: the adapter gets the dataset's non-prompt columns as keyword arguments (python3, standard library).
  const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(join(REPO_ROOT, 'integrations/python'))})
import sqlrl_rewards
rows, golds = json.load(sys.stdin)
fn = sqlrl_rewards.trl_reward_func(${JSON.stringify(url)})
cols = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}
done = [[{"role": "assistant", "content": c}] for c in golds]
print(json.dumps(fn(prompts=[r["prompt"] for r in rows], completions=done, **cols)))
`;
  const completions = golds.map(think);
  const py = spawnSync('python3', ['-c', script], { input: JSON.stringify([trl, completions]), encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  assert.deepEqual(JSON.parse(py.stdout), Array(20).fill(1));
  // OpenRLHF: query = prompt + response, labels from the label key.
  const prompts = orl.map((r) => `<|user|>${r.input[0]!.content}<|assistant|>`);
  const res = await fetch(`${url}/get_reward`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: prompts.map((p, i) => p + (i % 2 ? think('SELECT -123456789') : completions[i])), prompts, labels: orl.map((r) => r.label) }) });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { rewards: number[] };
  assert.deepEqual(body.rewards, Array.from({ length: 20 }, (_, i) => (i % 2 ? 0.1 : 1)));
});

test('prompt tokens in the model\'s tokenizer: the longest prompt fits its own length; one less is an error naming the fixes, or drops it with --long-prompts drop', { skip: NO_TEST_MODEL }, async () => {
  const out = join(tmp, 'tok');
  const base = ['prepare', '--dataset', 'sample', '--split', 'dev', '--format', 'trl', '--tokenizer', TEST_MODEL_GGUF];
  const a = await runCli([...base, '--output', out]);
  assert.equal(a.code, 0, a.stderr);
  const s = JSON.parse(readFileSync(join(out, 'dev.trl.summary.json'), 'utf8')) as { rows: number; prompt_tokens: { longest: number; max_prompt_length: number }; left_out: Record<string, number> };
  assert.equal(s.rows, 36);
  assert.equal(s.prompt_tokens.max_prompt_length, 4096);
  assert.ok(s.prompt_tokens.longest > 100 && s.prompt_tokens.longest < 4096, String(s.prompt_tokens.longest));
  const longest = s.prompt_tokens.longest;
  const ok = await runCli([...base, '--output', out, '--force', '--max-prompt-length', String(longest)]);
  assert.equal(ok.code, 0, ok.stderr);
  const over = await runCli([...base, '--output', join(tmp, 'tok-over'), '--max-prompt-length', String(longest - 1)]);
  assert.equal(over.code, 2);
  assert.match(over.stderr, new RegExp(`^(sqlrl prepare: .*\\n)*sqlrl: \\d+ of 36 prompts? exceeds? --max-prompt-length ${longest - 1} \\(longest ${longest} tokens\\): raise --max-prompt-length .*--template compact.*--long-prompts drop to leave them out\\n$`));
  assert.ok(!existsSync(join(tmp, 'tok-over', 'dev.jsonl')), 'nothing written on error');
  const drop = await runCli([...base, '--output', join(tmp, 'tok-drop'), '--max-prompt-length', String(longest - 1), '--long-prompts', 'drop']);
  assert.equal(drop.code, 0, drop.stderr);
  const d = JSON.parse(readFileSync(join(tmp, 'tok-drop', 'dev.trl.summary.json'), 'utf8')) as { rows: number; left_out: Record<string, number> };
  assert.ok(d.left_out.prompt_too_long! >= 1);
  assert.equal(d.rows + d.left_out.prompt_too_long!, 36);
  assert.equal(readFileSync(join(tmp, 'tok-drop', 'dev.jsonl'), 'utf8').trimEnd().split('\n').length, d.rows);
});

test('errors: an existing output without --force, a missing tokenizer, no databases, a bad option; each one line, exit 2', async () => {
  const out = join(tmp, 'errs');
  const first = await runCli(['prepare', '--dataset', 'sample', '--format', 'openrlhf', '--output', out]);
  assert.equal(first.code, 0, first.stderr);
  const cases: [string[], RegExp][] = [
    [['prepare', '--dataset', 'sample', '--format', 'openrlhf', '--output', out], /^sqlrl: '.*errs\/train\.jsonl' exists \(pass --force to overwrite it, or another --output\)\n$/],
    [['prepare', '--dataset', 'sample', '--format', 'verl', '--output', join(tmp, 'e2'), '--tokenizer', '/nope/model'], /^sqlrl: --tokenizer: tokenizer '\/nope\/model' not found \(pass a Hugging Face model folder, a \.gguf file, or hf:ORG\/NAME\)\n$/],
    [['prepare', '--dataset', 'spider', '--data-dir', SPIDER_DIR, '--split', 'dev', '--db-dir', '/nope', '--format', 'verl', '--output', join(tmp, 'e3')], NO_SPIDER ? /./ : /^sqlrl: no database of spider dev was found \(first: '\/nope\/concert_singer\/concert_singer\.sqlite'; pass --db-dir\)\n$/],
    [['prepare', '--dataset', 'sample', '--format', 'csv', '--output', join(tmp, 'e4')], /option '--format <value>' argument 'csv' is invalid/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  assert.ok(!existsSync(join(tmp, 'e2')) && !existsSync(join(tmp, 'e3')));
});
