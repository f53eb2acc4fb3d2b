// The reward server over real HTTP: both protocols, bad input answered 4xx one line, a bounded load test with
// runaway queries mixed in, metrics, and the Python adapters' own unittest suite against a real `sqlrl serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/datasets.js';
import { startRewardServer, type RewardServer } from '../../src/serve/reward-server.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { skipUnlessPython } from '../helpers/optional.js';

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

test('bad input gets a 4xx with a one-line reason and the server keeps serving', async () => {
  const cases: [unknown, boolean, number, RegExp][] = [
    ['{not json', true, 400, /JSON/i],
    [{ nope: 1 }, false, 400, /body must be \{"items"/],
    [{ items: [{ completion: 3, example_id: 'x' }] }, false, 400, /^items\.0: needs/],
    [{ items: [{ completion: 'x', example_id: 'missing' }] }, false, 400, /^items\.0: unknown example id 'missing'/],
    [{ items: [{ completion: 'x', db_id: 'atlantis', gold_sql: 'SELECT 1' }] }, false, 400, /unknown db_id 'atlantis'/],
    [{ items: Array.from({ length: 101 }, () => ({ completion: 'x', example_id: 'jsonl-0000' })) }, false, 400, /too many items: 101/],
    [JSON.stringify({ items: [{ completion: 'x'.repeat(70 * 1024), example_id: 'jsonl-0000' }] }), true, 413, /large/i],
    [{ query: ['a'], labels: [] }, false, 400, /same length/],
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
  assert.match(r.out, /Ran 5 tests/);
});
