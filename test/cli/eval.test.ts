// `sqlrl eval --pred`, end to end through the CLI: the sample, Spider dev gold as predictions, and the errors users hit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { SPIDER_DIR, NO_SPIDER } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-eval-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

interface Report {
  summary: { total: number; evaluated: number; execution_accuracy: number; by_hardness: Record<string, { n: number; execution_accuracy: number }>; by_db: Record<string, { n: number; execution_accuracy: number }>; skipped: { db_missing: number } };
  examples: { index: number; db_id: string; hardness: string; status: string; gold: string; pred: string; ms: number }[];
}

test('the bundled sample: 29 of 36 right in spider mode, 28 in strict (the DISTINCT the official evaluator ignores)', async () => {
  const report = join(tmp, 'sample.json');
  const html = join(tmp, 'sample.html');
  const r = await runCli(['eval', '--dataset', 'sample', '--report', report, '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^execution accuracy 80\.6%  \(36 evaluated of 36, mode spider\)/);
  const rep = JSON.parse(readFileSync(report, 'utf8')) as Report;
  assert.deepEqual(
    rep.examples.filter((e) => e.status !== 'match').map((e) => [e.index, e.status]),
    [[2, 'mismatch'], [4, 'mismatch'], [7, 'mismatch'], [16, 'mismatch'], [17, 'error'], [28, 'mismatch'], [33, 'error']],
  );
  assert.deepEqual(rep.summary.by_db, { shop: { n: 20, execution_accuracy: 15 / 20 }, school: { n: 16, execution_accuracy: 14 / 16 } });
  assert.match(readFileSync(html, 'utf8'), /<html/);
  const strict = await runCli(['eval', '--dataset', 'sample', '--mode', 'strict']);
  assert.match(strict.stdout, /^execution accuracy 77\.8%/);
});

test('Spider dev gold as predictions: 100.0% on the 972 examples with databases; the report has the documented shape', { skip: NO_SPIDER }, async () => {
  const pred = join(tmp, 'gold.sql');
  writeFileSync(pred, readFileSync(join(SPIDER_DIR, 'dev_gold.sql'), 'utf8'));
  const report = join(tmp, 'gold.json');
  const r = await runCli(['eval', '--dataset', 'spider', '--data-dir', SPIDER_DIR, '--pred', pred, '--skip-missing-db', '--report', report]);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(readFileSync(report, 'utf8')) as Report;
  assert.equal(rep.summary.total, 1034);
  assert.equal(rep.summary.evaluated, 972);
  assert.equal(rep.summary.execution_accuracy, 1);
  assert.deepEqual(rep.summary.skipped, { db_missing: 62 });
  assert.deepEqual(Object.fromEntries(Object.entries(rep.summary.by_hardness).map(([k, v]) => [k, v.n])), { easy: 232, medium: 416, hard: 160, extra: 164 });
  assert.equal(Object.keys(rep.summary.by_db).length, 19);
  const e0 = rep.examples[0]!;
  assert.deepEqual({ ...e0, ms: 0 }, { ...e0, index: 0, db_id: 'concert_singer', hardness: 'easy', status: 'match', gold: 'SELECT count(*) FROM singer', pred: 'SELECT count(*) FROM singer', ms: 0 });
  assert.equal(rep.examples[429]!.status, 'db_missing');
  assert.equal(rep.examples.filter((e) => e.status === 'db_missing').length, 62);
});

test('a missing database is a one-line error naming the file unless --skip-missing-db', { skip: NO_SPIDER }, async () => {
  const pred = join(tmp, 'gold2.sql');
  writeFileSync(pred, readFileSync(join(SPIDER_DIR, 'dev_gold.sql'), 'utf8'));
  const r = await runCli(['eval', '--dataset', 'spider', '--data-dir', SPIDER_DIR, '--pred', pred]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^sqlrl: database file '.*wta_1\/wta_1\.sqlite' not found \(62 examples in 1 database; pass --db-dir, or --skip-missing-db to leave them out\)\n$/);
});

test('user mistakes: wrong line count, missing predictions file, missing data dir, bad mode', async () => {
  const short = join(tmp, 'short.sql');
  writeFileSync(short, 'SELECT 1\nSELECT 2\n');
  let r = await runCli(['eval', '--dataset', 'sample', '--pred', short]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^sqlrl: predictions file '.*short\.sql' has 2 lines but the dataset has 36 examples/);
  r = await runCli(['eval', '--dataset', 'sample', '--pred', join(tmp, 'nope.sql')]);
  assert.match(r.stderr, /^sqlrl: predictions file '.*nope\.sql' not found \(pass --pred FILE/);
  r = await runCli(['eval', '--dataset', 'spider', '--data-dir', join(tmp, 'nowhere'), '--pred', short]);
  assert.match(r.stderr, /^sqlrl: Spider file '.*nowhere\/dev\.json' not found \(pass --data-dir/);
  r = await runCli(['eval', '--dataset', 'sample', '--mode', 'fuzzy']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /mode/);
});
