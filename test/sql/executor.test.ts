// The sandbox against everything a model might emit: writes, attaches, extensions, runaways, huge results;
// and against its own failures: workers killed or stopped mid-query, database files missing or not SQLite.
// Everything runs on a small database the test builds (test/sql/small-db.ts); runaways are unbounded
// recursive CTEs, which no machine finishes under any timeout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqlExecutor, normalizeSqlKey } from '../../src/sql/executor.js';
import { RUNAWAY, countTo, smallDbDir, writeSmallDb } from './small-db.js';

const TIMEOUT = 2000;
const SLACK = 500;

// Two copies of the database: the process runs as root in CI, so file permissions alone would not stop a
// write; the sandbox must, on any file.
const { dir: scratch, db: DB } = smallDbDir('sqlrl-exec-');
const writable = join(scratch, 'writable.sqlite');
copyFileSync(DB, writable);
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

const exec = new SqlExecutor({ workers: 2, timeoutMs: TIMEOUT, maxRows: 100_000, maxBytes: 32 * 1024 * 1024 });
after(async () => {
  await exec.close();
  rmSync(scratch, { recursive: true, force: true });
});

type Kind = 'rows' | 'error' | 'timeout' | 'too_large';
const hostile: [string, Kind][] = [
  ['DROP TABLE singer', 'error'],
  ['DROP TABLE IF EXISTS concert', 'error'],
  ['DELETE FROM singer', 'error'],
  ['DELETE FROM singer WHERE 1=1', 'error'],
  ["UPDATE singer SET name = 'x'", 'error'],
  ["INSERT INTO singer (Singer_ID, Name) VALUES (999, 'evil')", 'error'],
  ['INSERT INTO singer SELECT * FROM singer', 'error'],
  ["REPLACE INTO singer (Singer_ID, Name) VALUES (1, 'evil')", 'error'],
  ['CREATE TABLE evil (x)', 'error'],
  ['CREATE TEMP TABLE evil (x)', 'error'],
  ['CREATE INDEX evil_idx ON singer(Name)', 'error'],
  ['CREATE VIEW evil_v AS SELECT 1', 'error'],
  ['CREATE TRIGGER evil_t AFTER INSERT ON singer BEGIN DELETE FROM singer; END', 'error'],
  ['ALTER TABLE singer ADD COLUMN evil TEXT', 'error'],
  ['ALTER TABLE singer RENAME TO evil', 'error'],
  ['DROP VIEW IF EXISTS v', 'error'],
  ['DROP INDEX IF EXISTS i', 'error'],
  ["ATTACH DATABASE ':memory:' AS evil", 'error'],
  [`ATTACH DATABASE '${join(scratch, 'other.db')}' AS other`, 'error'],
  ['DETACH DATABASE main', 'error'],
  ['PRAGMA writable_schema = ON', 'error'],
  ['PRAGMA writable_schema = 1', 'error'],
  ['PRAGMA query_only = OFF', 'error'],
  ['PRAGMA journal_mode = WAL', 'error'],
  ['PRAGMA user_version = 42', 'error'],
  ['/* hidden */ PRAGMA query_only=0', 'error'],
  ['-- comment\nPRAGMA writable_schema=1', 'error'],
  ['VACUUM', 'error'],
  [`VACUUM INTO '${join(scratch, 'copy.db')}'`, 'error'],
  ['REINDEX', 'error'],
  ['ANALYZE', 'error'],
  ['BEGIN IMMEDIATE', 'error'],
  ['SAVEPOINT s1', 'error'],
  ["SELECT load_extension('/usr/lib/x86_64-linux-gnu/libm.so.6')", 'error'],
  ["SELECT load_extension('libsqlitefunctions')", 'error'],
  ["SELECT writefile('/tmp/evil', 'x')", 'error'],
  ['SELECT 1; DROP TABLE singer', 'error'],
  ['SELECT 1; SELECT 2', 'error'],
  ['DELETE FROM singer; SELECT 1', 'error'],
  ['WITH x AS (SELECT 1) DELETE FROM singer', 'error'],
  ['WITH x AS (SELECT 1) INSERT INTO singer (Singer_ID) SELECT 1 FROM x', 'error'],
  ['SELECT * FROM singer WHERE Name = (DELETE FROM singer)', 'error'],
  ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c', 'timeout'],
  ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x FROM c) SELECT max(x) FROM c', 'timeout'],
  ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c', 'too_large'],
  ['SELECT count(*) FROM singer, (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)', 'timeout'],
  ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c ORDER BY x DESC LIMIT 1', 'timeout'],
  ['SELECT a.Name FROM singer a, singer b, singer c, singer d, singer e, singer f, singer g', 'too_large'],
  ['SELECT randomblob(1000000000)', 'error'],
  ['SELECT randomblob(100000000)', 'too_large'],
  ['SELECT zeroblob(10000000000)', 'error'],
  ['SELECT length(zeroblob(2000000000))', 'error'],
  ['SELECT hex(zeroblob(20000000))', 'too_large'],
  ['SELECT * FROM no_such_table', 'error'],
  ['SELEC * FROM singer', 'error'],
  ['', 'error'],
  ['   ', 'error'],
  ['SELECT count(*) FROM singer', 'rows'],
];

test('hostile corpus: each statement gets a result of the right kind, runaways within timeout + 0.5 s, file unchanged', async () => {
  assert.ok(hostile.length >= 50, `corpus has ${hostile.length} statements`);
  const targets = [DB, writable];
  const before = targets.map(sha);
  for (const target of targets) {
    const results = await Promise.all(
      hostile.map(async ([sql]) => {
        const t0 = performance.now();
        // 5 s, not the suite's 2 s: the row-cap queries need ~300 ms of CPU while a dozen runaways and
        // (under --test-concurrency) another test file compete for the two cores.
        const r = await exec.execute(target, sql, { timeoutMs: 5000 });
        return { r, wall: performance.now() - t0 };
      }),
    );
    results.forEach(({ r }, i) => {
      const [sql, kind] = hostile[i]!;
      assert.equal(r.kind, kind, `${sql} -> ${JSON.stringify(r).slice(0, 200)}`);
    });
  }
  assert.deepEqual(targets.map(sha), before);
  // No stray files next to the writable copy (journals, WAL, attached dbs).
  const listing = execFileSync('ls', [scratch]).toString().trim().split('\n');
  assert.deepEqual(listing, ['concert_singer.sqlite', 'writable.sqlite']);
});

test('a runaway query is answered within timeout + 0.5 s and its worker is killed and replaced', async () => {
  const sql = RUNAWAY;
  const restarts = exec.stats.workerRestarts;
  const t0 = performance.now();
  const [a, b, ok] = await Promise.all([
    exec.execute(DB, sql),
    exec.execute(DB, sql, { timeoutMs: 300 }),
    exec.execute(DB, 'SELECT count(*) FROM singer'),
  ]);
  const wall = performance.now() - t0;
  assert.equal(a.kind, 'timeout');
  assert.equal(b.kind, 'timeout');
  assert.ok(wall < TIMEOUT + SLACK + 600, `took ${wall.toFixed(0)} ms`); // + the third query queued behind one runaway
  assert.ok(a.ms < TIMEOUT + SLACK, `timeout reported after ${a.ms} ms`);
  assert.ok(b.ms < 300 + SLACK, `short timeout reported after ${b.ms} ms`);
  assert.deepEqual(ok.kind === 'rows' && ok.rows, [[6]]);
  assert.equal(exec.stats.workerRestarts - restarts, 2);
  // No worker process keeps burning CPU: every node child of this process is one of the pool's live
  // workers (tsx's esbuild service may be a child too), and at most the pool's two remain.
  // A killed worker may take a moment to be reaped on a loaded machine.
  const strays = () => {
    const live = exec.workerPids();
    const kids = execFileSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)]).toString().trim().split('\n').filter((l) => l && !/\sZ/.test(l) && /\snode$/.test(l));
    return { kids, stray: kids.filter((l) => !live.includes(Number(l.trim().split(/\s+/)[0]))) };
  };
  for (let i = 0; i < 40 && strays().stray.length; i++) await sleep(50);
  const { kids, stray } = strays();
  assert.ok(kids.length <= 2 && stray.length === 0, `children ${kids.join('; ')}; not pool workers: ${stray.join('; ')}`);
});

test('rows come back with column names and SQLite values', async () => {
  const r = await exec.execute(DB, 'SELECT Name, Age FROM singer ORDER BY Age DESC LIMIT 2');
  assert.equal(r.kind, 'rows');
  if (r.kind !== 'rows') return;
  assert.deepEqual(r.columns, ['Name', 'Age']);
  assert.deepEqual(r.rows, [
    ['Joe Sharp', 52],
    ['John Nizinik', 43],
  ]);
  const blob = await exec.execute(DB, "SELECT x'00ff', NULL, 1.5, 'a'");
  assert.deepEqual(blob.kind === 'rows' && blob.rows, [[Buffer.from([0, 255]), null, 1.5, 'a']]);
});

test('double-quoted strings mean what they mean in Python\'s sqlite3: a column if one has that name, else a string', async () => {
  const r = await exec.execute(DB, 'SELECT "Name" FROM singer WHERE Country = "France" AND Name != "it\'s" ORDER BY "Age"');
  assert.deepEqual(r.kind === 'rows' && r.rows, [['Tribal King'], ['Justin Brown'], ['Rose White'], ['John Nizinik']]);
  const lit = await exec.execute(DB, 'SELECT count(*) FROM singer WHERE \'"France"\' = \'"France"\' AND Country = "France"');
  assert.deepEqual(lit.kind === 'rows' && lit.rows, [[4]]);
});

test('row cap and byte cap are distinct too_large results', async () => {
  const small = new SqlExecutor({ workers: 1, maxRows: 5, maxBytes: 100 });
  try {
    const rows = await small.execute(DB, 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 6) SELECT x FROM c');
    assert.deepEqual(rows, { kind: 'too_large', limit: 'rows', ms: rows.ms });
    const five = await small.execute(DB, 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c');
    assert.equal(five.kind, 'rows');
    const bytes = await small.execute(DB, "SELECT 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
    assert.deepEqual(bytes, { kind: 'too_large', limit: 'bytes', ms: bytes.ms });
  } finally {
    await small.close();
  }
});

test('a missing database file is db_missing naming it, not an SQL error', async () => {
  const r = await exec.execute('/nonexistent/x.sqlite', 'SELECT 1');
  assert.equal(r.kind, 'db_missing');
  assert.match(r.kind === 'db_missing' ? r.message : '', /^cannot open database \/nonexistent\/x\.sqlite: /);
  const gone = join(scratch, 'gone.sqlite');
  const r2 = await exec.execute(gone, 'SELECT 1');
  assert.deepEqual(r2.kind === 'db_missing' && r2.message, `cannot open database ${gone}: unable to open database file`);
});

test('a file that is not a SQLite database is db_missing too (when opened, not when queried)', async () => {
  const junk = join(scratch, 'junk.sqlite');
  writeFileSync(junk, 'this is not a database, just text long enough to have a header '.repeat(20));
  try {
    const r = await exec.execute(junk, 'SELECT 1');
    assert.deepEqual(r.kind === 'db_missing' && r.message, `cannot open database ${junk}: file is not a database`);
  } finally {
    rmSync(junk);
  }
});

test('a gold query on a missing database is not cached: once the file exists the gold runs', async () => {
  const later = join(scratch, 'later.sqlite');
  const sql = 'SELECT count(*) FROM singer';
  assert.equal((await exec.executeGold(later, sql)).kind, 'db_missing');
  writeSmallDb(later);
  try {
    const r = await exec.executeGold(later, sql);
    assert.deepEqual(r.kind === 'rows' && r.rows, [[6]]);
  } finally {
    rmSync(later);
  }
});

test('gold results are cached by db and normalized SQL', async () => {
  const hits = exec.stats.goldCacheHits;
  const a = await exec.executeGold(DB, 'SELECT count(*) FROM singer');
  const b = await exec.executeGold(DB, '  select COUNT(*)\n from   singer ; ');
  assert.equal(exec.stats.goldCacheHits - hits, 1);
  assert.equal(a, b);
  await exec.executeGold(DB, "SELECT count(*) FROM singer WHERE Name = 'A  B'");
  await exec.executeGold(DB, "SELECT count(*) FROM singer WHERE Name = 'a b'");
  assert.equal(exec.stats.goldCacheHits - hits, 1, 'string literals keep their case and spaces');
});

test('normalizeSqlKey collapses whitespace and case outside literals only', () => {
  assert.equal(normalizeSqlKey("SELECT  Name\nFROM t WHERE x = 'A  b' ;"), "select name from t where x = 'A  b'");
  assert.equal(normalizeSqlKey('SELECT "My Col" FROM t'), 'select "My Col" from t');
  assert.equal(normalizeSqlKey("SELECT 'it''s  X'"), "select 'it''s  X'");
});

test('checkSyntax prepares without running', async () => {
  assert.deepEqual(await exec.checkSyntax(DB, 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'), { ok: true });
  const bad = await exec.checkSyntax(DB, 'SELECT nope FROM singer');
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.message, /no such column: nope/);
  assert.equal((await exec.checkSyntax(DB, 'DELETE FROM singer')).ok, false);
});

test('other queries keep flowing while workers are stuck on runaways', async () => {
  const pool = new SqlExecutor({ workers: 2, timeoutMs: 6000 });
  try {
    const t0 = performance.now();
    let firstTimeoutAt = Infinity;
    const stuck = Array.from({ length: 3 }, () => pool.execute(DB, RUNAWAY).then((r) => ((firstTimeoutAt = Math.min(firstTimeoutAt, performance.now() - t0)), r)));
    const quick = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.execute(DB, `SELECT count(*) + ${i} FROM singer`)));
    const quickMs = performance.now() - t0;
    assert.deepEqual(quick.map((r) => (r.kind === 'rows' ? r.rows[0]![0] : r.kind)), Array.from({ length: 20 }, (_, i) => 6 + i));
    assert.deepEqual((await Promise.all(stuck)).map((r) => r.kind), Array(3).fill('timeout'));
    assert.ok(quickMs < firstTimeoutAt, `quick queries (${quickMs.toFixed(0)} ms) waited for a runaway's timeout (${firstTimeoutAt.toFixed(0)} ms)`);
  } finally {
    await pool.close();
  }
});

test('stuck workers are capped: past maxWorkers further queries wait instead of spawning a worker each', async () => {
  const pool = new SqlExecutor({ workers: 1, maxWorkers: 3, timeoutMs: 3000 });
  try {
    const t0 = performance.now();
    const runaways = Array.from({ length: 3 }, () => pool.execute(DB, RUNAWAY));
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, pool.workerPids().length)), 20);
    const quick = await pool.execute(DB, 'SELECT count(*) FROM singer');
    const quickMs = performance.now() - t0;
    const kinds = (await Promise.all(runaways)).map((r) => r.kind);
    clearInterval(watch);
    assert.deepEqual(quick.kind === 'rows' && quick.rows, [[6]]);
    assert.deepEqual(kinds, Array(3).fill('timeout'));
    assert.ok(peak <= 3 && pool.stats.peakWorkers === 3, `peak ${peak} workers, stats ${pool.stats.peakWorkers}`);
    assert.ok(pool.stats.peakStuck <= 3);
    // Three workers hold the three runaways; the quick query waits for one of them to time out.
    assert.ok(quickMs >= 3000, `answered after ${quickMs.toFixed(0)} ms, before any runaway ended`);
  } finally {
    await pool.close();
  }
});

/** Waits until the pool has a live worker other than `not`, and returns its pid. */
async function nextWorker(pool: SqlExecutor, not: number[] = []): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const pid = pool.workerPids().find((p) => !not.includes(p));
    if (pid !== undefined) return pid;
    await sleep(10);
  }
  throw new Error('no worker appeared');
}

// 8 million rows counted: about 1.3 s of CPU, a query that is surely running when its worker is killed.
const LONG = countTo(8_000_000);

test('a worker killed (kill -9) during a query is replaced and the query retried: the answer is right', async () => {
  const pool = new SqlExecutor({ workers: 1, timeoutMs: 30_000 });
  try {
    await pool.execute(DB, 'SELECT 1'); // booted
    const first = await nextWorker(pool);
    const pending = pool.execute(DB, LONG);
    await sleep(300);
    process.kill(first, 'SIGKILL');
    const r = await pending;
    assert.deepEqual(r.kind === 'rows' && r.rows, [[8_000_000]]);
    assert.deepEqual([pool.stats.workerDeaths, pool.stats.retries, pool.stats.infraErrors], [1, 1, 0]);
    assert.ok(!pool.workerPids().includes(first));
  } finally {
    await pool.close();
  }
});

test('a query whose worker is killed twice is answered infra_error (one retry), and the pool keeps serving', async () => {
  const pool = new SqlExecutor({ workers: 1, timeoutMs: 30_000 });
  try {
    await pool.execute(DB, 'SELECT 1');
    const first = await nextWorker(pool);
    const pending = pool.execute(DB, LONG);
    await sleep(300);
    process.kill(first, 'SIGKILL');
    const second = await nextWorker(pool, [first]);
    await sleep(500);
    process.kill(second, 'SIGKILL');
    const r = await pending;
    assert.equal(r.kind, 'infra_error');
    assert.equal(r.kind === 'infra_error' && r.message, 'sandbox worker died (SIGKILL); the query was retried once on a new worker and that failed too');
    assert.deepEqual([pool.stats.workerDeaths, pool.stats.retries, pool.stats.infraErrors], [2, 1, 1]);
    const after = await pool.execute(DB, 'SELECT count(*) FROM singer');
    assert.deepEqual(after.kind === 'rows' && after.rows, [[6]]);
  } finally {
    await pool.close();
  }
});

test('a worker that stops responding (SIGSTOP) is told from a runaway by its CPU use: replaced, query retried', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const pool = new SqlExecutor({ workers: 1, timeoutMs: 4000 });
  try {
    await pool.execute(DB, 'SELECT 1');
    const first = await nextWorker(pool);
    const pending = pool.execute(DB, LONG);
    await sleep(150);
    process.kill(first, 'SIGSTOP');
    const r = await pending;
    assert.deepEqual(r.kind === 'rows' && r.rows, [[8_000_000]], JSON.stringify(r));
    assert.deepEqual([pool.stats.workerDeaths, pool.stats.retries, pool.stats.timeouts], [1, 1, 0]);
    // A real runaway keeps its 'timeout': it used CPU all along.
    const run = await pool.execute(DB, RUNAWAY, { timeoutMs: 1200 });
    assert.equal(run.kind, 'timeout');
    assert.equal(pool.stats.timeouts, 1);
  } finally {
    await pool.close();
  }
});

test('a query handed to a worker that died a moment ago (EPIPE on send) is retried, not an unhandled error', async () => {
  const pool = new SqlExecutor({ workers: 1, timeoutMs: 10_000 });
  try {
    await pool.execute(DB, 'SELECT 1');
    const pid = await nextWorker(pool);
    process.kill(pid, 'SIGKILL');
    // Block the event loop while the worker dies, so the pool has not yet heard of its exit when it sends.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    const r = await pool.execute(DB, 'SELECT count(*) FROM singer');
    assert.deepEqual(r.kind === 'rows' && r.rows, [[6]]);
    assert.deepEqual([pool.stats.workerDeaths, pool.stats.retries, pool.stats.infraErrors], [1, 1, 0]);
  } finally {
    await pool.close();
  }
});
