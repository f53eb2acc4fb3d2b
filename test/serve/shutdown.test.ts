// Stopping the servers: `sqlrl serve` with idle keep-alive clients and a request in flight exits within the
// query timeout, answering the request; a second signal exits at once; under npm's launcher (npm -> sh ->
// node) killing the launcher stops the server instead of orphaning it; the model server and the dashboard
// drain the same way. Missing databases are reported at start and answered db_missing, not as bad SQL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { request, Agent } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startModelServer } from '../../src/serve/model-server.js';
import { startDashboard } from '../../src/serve/dashboard/server.js';
import { RUNAWAY, smallDbDir } from '../sql/small-db.js';
import { REPO_ROOT } from '../helpers/paths.js';
import type { Policy } from '../../src/interfaces/policy.js';

const { dir, db: DB } = smallDbDir('sqlrl-shutdown-');
const DATA = join(dir, 'data.jsonl');
writeFileSync(
  DATA,
  [
    { id: 'q1', question: 'How many singers?', db_path: DB, sql: 'SELECT count(*) FROM singer' },
    { id: 'q2', question: 'How many concerts?', db_path: join(dir, 'gone.sqlite'), sql: 'SELECT count(*) FROM concert' },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n') + '\n',
);
after(() => rmSync(dir, { recursive: true, force: true }));

const CLI = [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/helpers/sqlrl-cli.ts')];
const fence = (sql: string) => '```sql\n' + sql + '\n```';

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `sqlrl serve …` (through `shell` when given, as npm does) and waits for its URL. */
async function startServe(args: string[], opts: { shell?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Running> {
  const argv = [...CLI, 'serve', '--dataset', 'jsonl', '--file', DATA, '--port', '0', '--workers', '2', ...args];
  // `; true` keeps sh alive as node's parent (otherwise dash would exec node in its place), as npm's `sh -c` is.
  const child = opts.shell
    ? spawn('sh', ['-c', `${argv.map((a) => `'${a}'`).join(' ')}; true`], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  for (let i = 0; i < 600; i++) {
    const m = /sqlrl serve: (http:\/\/\S+) /.exec(err);
    if (m) return { child, url: m[1]!, stderr: () => err, exited };
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not start: ${err}`);
}

/** A request on `agent` (keep-alive); resolves with status, body, and the socket it used. */
function post(url: string, path: string, body: unknown, agent: Agent): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('serve: SIGTERM with idle keep-alive clients and a request in flight: the request is answered, exit within the query timeout', async (t) => {
  const s = await startServe(['--timeout', '3', '--budget-factor', '0']);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    // Four clients that made a request and now sit idle on kept-alive connections.
    const idle = await Promise.all(Array.from({ length: 4 }, () => post(s.url, '/v1/rewards', { items: [{ completion: fence('SELECT count(*) FROM singer'), example_id: 'q1' }] }, agent)));
    assert.deepEqual(idle.map((r) => r.status), [200, 200, 200, 200]);
    const sockets = Object.values(agent.freeSockets).flat();
    assert.ok(sockets.length >= 1, 'kept-alive sockets');
    const closed = Promise.all(sockets.map((so) => new Promise<void>((r) => so!.once('close', () => r()))));
    // One request in flight (from another client): a runaway that runs to the 3 s timeout.
    const inFlight = post(s.url, '/v1/rewards', { items: [{ completion: fence(RUNAWAY), example_id: 'q1' }] }, new Agent({ keepAlive: true }));
    await sleep(400);
    const t0 = performance.now();
    s.child.kill('SIGTERM');
    await closed; // idle connections are closed at once
    const closedAfter = performance.now() - t0;
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.equal((r.json.results as { status: string }[])[0]!.status, 'timeout');
    const { code, at } = await s.exited;
    assert.equal(code, 0, s.stderr());
    t.diagnostic(`idle keep-alive connections closed ${closedAfter.toFixed(0)} ms after SIGTERM; exit ${(at - t0).toFixed(0)} ms after (query timeout 3 s, a runaway in flight)`);
    assert.ok(closedAfter < 1000, `idle connections closed after ${closedAfter.toFixed(0)} ms`);
    assert.ok(at - t0 < 3000 + 1500, `exited ${(at - t0).toFixed(0)} ms after SIGTERM (timeout 3 s)`);
    assert.match(s.stderr(), /sqlrl serve: SIGTERM: draining in-flight requests \(at most 3 s\); press Ctrl-C again \(or send SIGTERM again\) to exit at once\n/);
    assert.match(s.stderr(), /sqlrl serve: stopped\n$/);
  } finally {
    agent.destroy();
    s.child.kill('SIGKILL');
  }
});

/** Child processes of `pid` (the sandbox workers of a server). */
const childrenOf = (pid: number): number[] => {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // ps exits 1 when there are none
  }
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits up to `ms` for every pid to be gone; returns those still alive (and kills them: they are ours). */
async function survivors(pids: number[], ms: number): Promise<number[]> {
  const t0 = performance.now();
  while (pids.some(alive) && performance.now() - t0 < ms) await sleep(50);
  const left = pids.filter(alive);
  for (const p of left) process.kill(p, 'SIGKILL');
  return left;
}

for (const [what, stop] of [
  ['a second signal exits at once', async (c: ChildProcess) => (c.kill('SIGINT'), await sleep(300), c.kill('SIGINT'))],
  ['kill -9', async (c: ChildProcess) => void c.kill('SIGKILL')],
] as const) {
  test(`serve: ${what} with a runaway in flight, and no sandbox worker outlives it`, { skip: process.platform !== 'linux' && 'workers die with their parent through prctl (Linux)' }, async () => {
    const s = await startServe(['--timeout', '20', '--budget-factor', '0']);
    const agent = new Agent({ keepAlive: true });
    try {
      void post(s.url, '/v1/rewards', { items: [{ completion: fence(RUNAWAY), example_id: 'q1' }] }, agent).catch(() => {});
      await sleep(600);
      const workers = childrenOf(s.child.pid!);
      assert.ok(workers.length >= 1, 'the server has sandbox workers');
      const t0 = performance.now();
      await stop(s.child);
      const { at } = await s.exited;
      assert.ok(at - t0 < 1000, `exited ${(at - t0).toFixed(0)} ms after the last signal`);
      // The worker running the runaway is blocked in SQLite and cannot see its parent go: the kernel kills it.
      assert.deepEqual(await survivors(workers, 2000), []);
    } finally {
      agent.destroy();
      s.child.kill('SIGKILL');
    }
  });
}

test('serve under npm (npm -> sh -> node): SIGTERM to the launcher reaches node as a graceful stop, no orphan', async (t) => {
  const s = await startServe(['--timeout', '3'], { shell: true, env: { npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js' } });
  const shPid = s.child.pid!;
  const nodePid = Number(execFileSync('ps', ['-o', 'pid=', '--ppid', String(shPid)]).toString().trim().split('\n')[0]);
  assert.ok(nodePid > 0);
  s.child.kill('SIGTERM'); // what npm does to its child on SIGTERM; sh dies and does not pass it on
  const t0 = performance.now();
  let alive = true;
  while (alive && performance.now() - t0 < 5000) {
    await sleep(50);
    try {
      process.kill(nodePid, 0);
    } catch {
      alive = false;
    }
  }
  if (alive) process.kill(nodePid, 'SIGKILL'); // the orphan this test is about; never a recycled pid
  else t.diagnostic(`node gone ${(performance.now() - t0).toFixed(0)} ms after its launcher was killed`);
  assert.equal(alive, false, `node (pid ${nodePid}) still running 5 s after its launcher was killed`);
  assert.match(s.stderr(), /sqlrl serve: launcher exited: draining in-flight requests/);
});

test('serve: missing databases are reported at start; their items answer db_missing (reward null), OpenRLHF a 500', async () => {
  const s = await startServe(['--timeout', '3']);
  const agent = new Agent({ keepAlive: false });
  try {
    const gone = join(dir, 'gone.sqlite');
    assert.ok(s.stderr().includes(`sqlrl serve: warning: 1 database file of split 'dev' missing (1 of 2 examples), e.g. ${gone}; their requests answer status db_missing\n`), s.stderr());
    const health = (await (await fetch(s.url + '/health')).json()) as Record<string, unknown>;
    assert.equal(health.missing_databases, 1);
    const r = await post(s.url, '/v1/rewards', { items: [{ completion: fence('SELECT count(*) FROM concert'), example_id: 'q2' }, { completion: fence('SELECT count(*) FROM singer'), example_id: 'q1' }] }, agent);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.results, [
      { reward: null, components: {}, status: 'db_missing', sql: 'SELECT count(*) FROM concert', excluded: true, error: `cannot open database ${gone}: unable to open database file` },
      { reward: 1, components: { execution: 1 }, status: 'match', sql: 'SELECT count(*) FROM singer' },
    ]);
    const o = await post(s.url, '/get_reward', { query: ['x' + fence('SELECT 1')], prompts: ['x'], labels: ['q2'] }, agent);
    assert.equal(o.status, 500);
    assert.equal(o.json.error, `labels.0: no reward: the database is missing (cannot open database ${gone}: unable to open database file)`);
  } finally {
    agent.destroy();
    s.child.kill('SIGTERM');
    await s.exited;
  }
});

test('model server: close() lets the generation in progress finish, refuses the queued one (503), closes idle connections', async () => {
  const { writeTinyModelDir } = await import('../helpers/tiny-models.js');
  const { CpuPolicy } = await import('../../src/engine/policy.js');
  const modelDir = join(dir, 'tiny');
  writeTinyModelDir(modelDir, 'llama');
  const real = await CpuPolicy.load(modelDir);
  // The tiny model answers in milliseconds; 800 ms of latency stands for a real model's generation.
  const slow: Policy = Object.assign(Object.create(real) as Policy, { sample: async (...a: Parameters<Policy['sample']>) => (await sleep(800), real.sample(...a)) });
  const server = await startModelServer({ policy: slow, modelName: 'tiny', port: 0, drainMs: 5000 });
  const agent = new Agent({ keepAlive: true });
  const body = { prompt: 'SELECT', max_tokens: 4, temperature: 0 };
  try {
    const idle = await fetch(server.url + '/health');
    assert.equal(idle.status, 200);
    const idleAgentReq = await post(server.url, '/v1/completions', body, agent); // leaves a kept-alive socket
    assert.equal(idleAgentReq.status, 200);
    const a = post(server.url, '/v1/completions', body, new Agent({ keepAlive: true }));
    const b = post(server.url, '/v1/completions', body, new Agent({ keepAlive: true }));
    await sleep(200);
    const t0 = performance.now();
    await server.close();
    const ms = performance.now() - t0;
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.status, 200);
    assert.equal(rb.status, 503);
    assert.match(String((rb.json.error as { message: string }).message), /shutting down/);
    assert.ok(ms < 2000, `closed after ${ms.toFixed(0)} ms`);
  } finally {
    agent.destroy();
  }
});

test('dashboard: close() ends the event streams and closes idle connections at once', async () => {
  const dash = await startDashboard({ runDirs: [dir], port: 0 });
  const agent = new Agent({ keepAlive: true });
  const stream = await new Promise<import('node:http').IncomingMessage>((resolve) => request(dash.url + '/api/stream', { agent }, resolve).end());
  const ended = new Promise<void>((r) => stream.on('close', () => r()));
  stream.resume();
  await fetch(dash.url + '/api/runs');
  const t0 = performance.now();
  await dash.close();
  await ended;
  assert.ok(performance.now() - t0 < 1000, `closed after ${(performance.now() - t0).toFixed(0)} ms`);
  agent.destroy();
});

test('serve refuses to start when no database of the split exists (one line, exit 2)', async () => {
  const { runCli } = await import('../helpers/cli.js');
  const none = join(dir, 'none.jsonl');
  const gone = join(dir, 'nowhere', 'x.sqlite');
  writeFileSync(none, JSON.stringify({ question: 'q', db_path: gone, sql: 'SELECT 1' }) + '\n');
  const r = await runCli(['serve', '--dataset', 'jsonl', '--file', none, '--port', '0'], { timeoutMs: 60_000 });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `sqlrl: no database of split 'dev' exists (e.g. ${gone}); pass --db-dir or --data-dir\n`);
});
