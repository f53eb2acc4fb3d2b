// Loaders: Spider, BIRD-shaped, JSONL, the bundled sample; missing files give one-line errors naming the path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadBird, loadDataset, loadSpider, missingDatabases } from '../../src/data/datasets.js';
import { loadJsonl } from '../../src/data/jsonl.js';
import { buildSampleDataset } from '../../src/data/sample.js';
import { SPIDER_DIR, NO_SPIDER } from '../helpers/paths.js';

test('Spider dev: 1034 examples in order, 62 of them on the missing wta_1 database (indices 429-490)', { skip: NO_SPIDER }, () => {
  const ex = loadSpider(SPIDER_DIR, 'dev');
  assert.equal(ex.length, 1034);
  assert.deepEqual(
    { id: ex[0]!.id, index: ex[0]!.index, dbId: ex[0]!.dbId, goldSql: ex[0]!.goldSql, question: ex[0]!.question },
    { id: 'spider-dev-0000', index: 0, dbId: 'concert_singer', goldSql: 'SELECT count(*) FROM singer', question: 'How many singers do we have?' },
  );
  assert.ok(ex[0]!.dbPath.endsWith('database/concert_singer/concert_singer.sqlite'));
  const missing = missingDatabases(ex);
  assert.equal(missing.length, 62);
  assert.deepEqual([missing[0]!.index, missing.at(-1)!.index], [429, 490]);
  assert.ok(missing.every((e) => e.dbId === 'wta_1'));
});

test('Spider train: 7000 examples from train_spider.json', { skip: NO_SPIDER }, () => {
  const ex = loadSpider(SPIDER_DIR, 'train');
  assert.equal(ex.length, 7000);
  assert.equal(ex[6999]!.id, 'spider-train-6999');
});

test('a missing Spider folder is one line naming the file and the flag', () => {
  assert.throws(() => loadSpider('/nope/spider'), /^Error: Spider file '\/nope\/spider\/dev\.json' not found \(pass --data-dir/);
  assert.throws(() => loadDataset({ dataset: 'spider' }), /--data-dir is required/);
});

test('BIRD layout: SQL field, evidence, difficulty, <split>_databases', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-bird-'));
  try {
    mkdirSync(join(dir, 'dev_databases', 'toy'), { recursive: true });
    new Database(join(dir, 'dev_databases', 'toy', 'toy.sqlite')).exec('CREATE TABLE t (x)').close();
    writeFileSync(join(dir, 'dev.json'), JSON.stringify([
      { question_id: 0, db_id: 'toy', question: 'How many?', evidence: 'x is a number', SQL: 'SELECT count(*) FROM t', difficulty: 'simple' },
      { question_id: 1, db_id: 'gone', question: 'Q2', evidence: '', SQL: 'SELECT 1', difficulty: 'challenging' },
    ]));
    const ex = loadBird(dir);
    assert.equal(ex.length, 2);
    assert.deepEqual({ ...ex[0]!, dbPath: undefined }, { id: 'bird-dev-0000', index: 0, question: 'How many?', dbId: 'toy', dbPath: undefined, goldSql: 'SELECT count(*) FROM t', evidence: 'x is a number', difficulty: 'simple' });
    assert.equal(ex[1]!.evidence, undefined, 'empty evidence is dropped');
    assert.deepEqual(missingDatabases(ex).map((e) => e.dbId), ['gone']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JSONL: db_path relative to the file, db_id under --db-dir, bad lines named with their line number', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-jsonl-'));
  try {
    const file = join(dir, 'q.jsonl');
    writeFileSync(file, [
      JSON.stringify({ question: 'a', db_path: 'dbs/one.sqlite', sql: 'SELECT 1' }),
      '',
      JSON.stringify({ id: 'x7', question: 'b', db_id: 'two', query: 'SELECT 2' }),
    ].join('\n'));
    const ex = loadJsonl(file, join(dir, 'dbs'));
    assert.deepEqual(ex.map((e) => [e.id, e.index, e.dbId, e.dbPath, e.goldSql]), [
      ['jsonl-0000', 0, 'one', join(dir, 'dbs/one.sqlite'), 'SELECT 1'],
      ['x7', 1, 'two', join(dir, 'dbs/two/two.sqlite'), 'SELECT 2'],
    ]);
    writeFileSync(file, '{"question": "a", "sql": "SELECT 1"}\n{oops\n');
    assert.throws(() => loadJsonl(file), /q\.jsonl:1: needs 'db_id' or 'db_path'/);
    writeFileSync(file, '{"question": "a", "db_id": "x", "sql": "SELECT 1"}\n{oops\n');
    assert.throws(() => loadJsonl(file), /q\.jsonl:2: not a JSON object/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bundled sample builds its databases once into the cache and every gold query returns rows', () => {
  const cache = mkdtempSync(join(tmpdir(), 'sqlrl-cache-'));
  const saved = process.env.SQLRL_CACHE;
  process.env.SQLRL_CACHE = cache;
  try {
    const a = buildSampleDataset();
    const b = buildSampleDataset();
    assert.equal(a.dbDir, b.dbDir);
    assert.ok(existsSync(join(a.dbDir, 'shop.sqlite')) && existsSync(join(a.dbDir, 'school.sqlite')));
    const ex = loadDataset({ dataset: 'sample' });
    assert.equal(ex.length, 36);
    assert.deepEqual(missingDatabases(ex), []);
    for (const e of ex) {
      const db = new Database(e.dbPath, { readonly: true });
      const rows = db.prepare(e.goldSql).all();
      db.close();
      assert.ok(rows.length > 0, `${e.id}: ${e.goldSql} returns no rows`);
    }
  } finally {
    if (saved === undefined) delete process.env.SQLRL_CACHE;
    else process.env.SQLRL_CACHE = saved;
    rmSync(cache, { recursive: true, force: true });
  }
});

test('Spider train: train_spider.json then train_others.json, ids positional across both files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-spider-train-'));
  try {
    writeFileSync(join(dir, 'train_spider.json'), JSON.stringify([
      { db_id: 'a', question: 'q0', query: 'SELECT 0' },
      { db_id: 'a', question: 'q1', query: 'SELECT 1' },
    ]));
    writeFileSync(join(dir, 'train_others.json'), JSON.stringify([{ db_id: 'b', question: 'q2', query: 'SELECT 2' }]));
    const ex = loadSpider(dir, 'train');
    assert.deepEqual(ex.map((e) => [e.id, e.index, e.dbId, e.goldSql]), [
      ['spider-train-0000', 0, 'a', 'SELECT 0'],
      ['spider-train-0001', 1, 'a', 'SELECT 1'],
      ['spider-train-0002', 2, 'b', 'SELECT 2'],
    ]);
    rmSync(join(dir, 'train_others.json'));
    assert.deepEqual(loadSpider(dir, 'train').map((e) => e.id), ['spider-train-0000', 'spider-train-0001'], 'train_others.json is optional');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
