// The reward server over real HTTP: both protocols, bad input answered 4xx one line, a bounded load test with
// runaway queries mixed in, metrics, and the Python adapters' own unittest suite against a real `sqlrl serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/datasets.js';
import { startRewardServer, type RewardServer } from '../../src/serve/reward-server.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { python, skipUnlessPython } from '../helpers/optional.js';

const GOOD = "<think>x</think><answer>```sql\nSELECT count(*) FROM customers\n```</answer>";
let server: RewardServer;
const executor = new SqlExecutor({ workers: 2, timeoutMs: 1000 });

before(async () => {
  server = await startRewardServer({ examples: loadDataset({ dataset: 'sample' }), reward: 'arctic', executor, port: 0, maxItems: 100, bodyLimit: 64 * 1024 });
});
after(async () => {
  await server.close();
  await executor.close();
});

const post = async (path: string, body: unknown, raw = false) => {
  const r = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ? (body as string) : JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
};

test('POST /v1/rewards: results in request order with reward, components, status', async () => {
  const r = await post('/v1/rewards', {
    items: [
      { completion: GOOD, example_id: 'jsonl-0000' },
      { completion: '```sql\nSELECT 1\n```', db_id: 'shop', gold_sql: 'SELECT count(*) FROM customers' },
      { completion: '', example_id: 'jsonl-0001' },
    ],
  });
  assert.equal(r.status, 200);
  assert.deepEqual(
    (r.json.results as { reward: number; status: string; components: Record<string, number> }[]).map((x) => [x.reward, x.status, x.components]),
    [[1, 'match', { execution: 1 }], [0.1, 'mismatch', { execution: 0.1 }], [0, 'no_sql', { execution: 0 }]],
  );
});

test('GET /health tells clients the reward, its extraction rule, the default prefix and the request limits', async () => {
  const h = (await (await fetch(server.url + '/health')).json()) as Record<string, unknown>;
  assert.deepEqual(h, { ok: true, examples: 36, reward: 'arctic', mode: 'strict', extract: 'arctic', prefix: '', body_limit: 64 * 1024, max_items: 100, missing_databases: 0 });
});

test('items carry their own prefix; a server-wide prefix (the template prefill) fills in for items without one', async () => {
  const ex = new SqlExecutor({ workers: 1, timeoutMs: 2000 });
  const r1 = await startRewardServer({ examples: loadDataset({ dataset: 'sample' }), reward: 'sql-r1', executor: ex, port: 0, prefix: '<think>\n' });
  try {
    const completion = 'plan\n</think>\n<answer>\n```sql\nSELECT count(*) FROM customers\n```\n</answer>';
    const res = await fetch(r1.url + '/v1/rewards', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ completion, example_id: 'jsonl-0000' }, { completion, example_id: 'jsonl-0000', prefix: '' }, { completion: '<think>\n' + completion, example_id: 'jsonl-0000', prefix: '' }] }),
    });
    const out = ((await res.json()) as { results: { status: string; components: Record<string, number> }[] }).results;
    // think 'plan' (4) + answer '```sql\nSELECT count(*) FROM customers\n```' (3+3+1+30+1+3 = 41); SQL 30 characters
    const length = (45 / 2048) * 0.5 + 30 / 41;
    assert.deepEqual(out.map((r) => r.status), ['match', 'no_sql', 'match']);
    assert.deepEqual(out[0]!.components, { format: 1, execution: 2, result: 3, length: out[0]!.components.length });
    assert.ok(Math.abs(out[0]!.components.length! - length) < 1e-12);
    assert.deepEqual(out[1]!.components, { format: -1, execution: 0, result: 0, length: 0 }, 'an explicit empty prefix: no <think>, format fails');
  } finally {
    await r1.close();
    await ex.close();
  }
});

test('bad input gets a 4xx with a one-line reason and the server keeps serving', async () => {
  const cases: [unknown, boolean, number, RegExp][] = [
    ['{not json', true, 400, /JSON/i],
    [{ nope: 1 }, false, 400, /body must be \{"items"/],
    [{ items: [{ completion: 3, example_id: 'x' }] }, false, 400, /^items\.0: needs/],
    [{ items: [{ completion: 'x', example_id: 'missing' }] }, false, 400, /^items\.0: unknown example id 'missing'/],
    [{ items: [{ completion: 'x', db_id: 'atlantis', gold_sql: 'SELECT 1' }] }, false, 400, /unknown db_id 'atlantis'/],
    [{ items: Array.from({ length: 101 }, () => ({ completion: 'x', example_id: 'jsonl-0000' })) }, false, 400, /too many items: 101/],
    [JSON.stringify({ items: [{ completion: 'x'.repeat(70 * 1024), example_id: 'jsonl-0000' }] }), true, 413, /^payload too large: \d+ bytes is over the server's body limit of 65536 bytes \(split the batch, or start sqlrl serve with a larger --body-limit\)$/],
    [{ query: ['a'], prompts: ['p'], labels: [] }, false, 400, /same length/],
    [{ query: ['a'], labels: ['jsonl-0000'] }, false, 400, /body must be \{"query".*prompts/],
  ];
  for (const [body, raw, status, msg] of cases) {
    const path = (body as { query?: unknown }).query ? '/get_reward' : '/v1/rewards';
    const r = await post(path, body, raw);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(String(r.json.error), msg);
    assert.ok(!String(r.json.error).includes('\n'));
  }
  assert.equal((await fetch(server.url + '/health')).status, 200);
});

test('load: 2000 requests from 32 concurrent clients, mixed valid / malformed / runaway; no crash, every malformed one 4xx', async () => {
  const RUNAWAY = '```sql\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c\n```';
  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  let next = 0;
  const client = async () => {
    while (next < 2000) {
      const i = next++;
      const kind = i % 10 === 0 ? 'malformed' : i % 97 === 0 ? 'runaway' : 'valid';
      const t0 = performance.now();
      const body = kind === 'malformed' ? '{"items": [' : JSON.stringify({ items: [{ completion: kind === 'runaway' ? RUNAWAY : GOOD, example_id: `jsonl-${String(i % 36).padStart(4, '0')}` }] });
      const r = await fetch(server.url + '/v1/rewards', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await r.arrayBuffer();
      latencies.push(performance.now() - t0);
      const key = `${kind} ${r.status}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 32 }, client));
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.floor(q * (latencies.length - 1))]!.toFixed(1);
  console.log(`reward server load: ${latencies.length} requests, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.deepEqual([...statuses.keys()].sort(), ['malformed 400', 'runaway 200', 'valid 200']);
  assert.equal(statuses.get('malformed 400'), 200);
  const metrics = await (await fetch(server.url + '/metrics')).text();
  assert.match(metrics, /sqlrl_requests_total\{route="\/v1\/rewards"\} \d+/);
  assert.match(metrics, /sqlrl_sql_timeouts_total [1-9]/);
  assert.match(metrics, /sqlrl_gold_cache_hits_total [1-9]/);
});

test('Python adapters (TRL, verl, OpenRLHF protocol): python3 -m unittest against a real sqlrl serve', { skip: skipUnlessPython() }, async () => {
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn('python3', ['-m', 'unittest', '-v'], { cwd: join(REPO_ROOT, 'integrations/python'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Ran 16 tests/);
});

test('the Python adapter installs with pip (integrations/python/pyproject.toml) and imports from where it was installed', { skip: skipUnlessPython('setuptools', 'wheel'), timeout: 120_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-pip-'));
  try {
    cpSync(join(REPO_ROOT, 'integrations/python'), join(tmp, 'src'), { recursive: true }); // a build writes build/ and *.egg-info beside the sources
    const py = python('setuptools', 'wheel');
    const install = spawnSync(py, ['-m', 'pip', 'install', '-q', '--no-build-isolation', '--no-deps', '--no-index', '--target', join(tmp, 'site'), join(tmp, 'src')], { encoding: 'utf8' });
    assert.equal(install.status, 0, install.stderr);
    const probe = spawnSync(py, ['-c', 'import sqlrl_rewards, inspect; print(sqlrl_rewards.__file__); print(inspect.signature(sqlrl_rewards.compute_score))'], { encoding: 'utf8', cwd: tmp, env: { ...process.env, PYTHONPATH: join(tmp, 'site') } });
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stdout, `${join(tmp, 'site', 'sqlrl_rewards.py')}\n(data_source, solution_str, ground_truth, extra_info=None, **kwargs)\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
