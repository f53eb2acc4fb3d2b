import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { contextDbId, loadCreateContext } from '../../src/data/create-context.js';

test('sql-create-context records become examples over one materialized database per context', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-cc-'));
  const ctx = 'CREATE TABLE head (age INTEGER, name VARCHAR)';
  const ctx2 = 'CREATE TABLE a (x INTEGER); CREATE TABLE b (y VARCHAR)';
  writeFileSync(join(dir, 'd.jsonl'), [
    { question: 'How many heads are older than 56?', context: ctx, answer: 'SELECT COUNT(*) FROM head WHERE age > 56' },
    { question: 'Names?', context: ctx, answer: 'SELECT name FROM head' },
    { question: 'Ys?', context: ctx2, answer: 'SELECT y FROM b' },
  ].map((r) => JSON.stringify(r)).join('\n'));
  const ex = loadCreateContext(join(dir, 'd.jsonl'), join(dir, 'dbs'));
  assert.equal(ex.length, 3);
  assert.equal(ex[0].id, 'create-context-00000');
  assert.equal(ex[0].dbPath, ex[1].dbPath);
  assert.notEqual(ex[0].dbPath, ex[2].dbPath);
  assert.equal(ex[2].dbId, contextDbId(ctx2));
  assert.equal(readdirSync(join(dir, 'dbs')).length, 2);
  const db = new Database(ex[2].dbPath, { readonly: true });
  assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").pluck().all(), ['a', 'b']);
  db.close();
  // A second load reuses the databases.
  assert.equal(loadCreateContext(join(dir, 'd.jsonl'), join(dir, 'dbs'))[0].dbPath, ex[0].dbPath);
});

test('bad records and bad DDL are one-line errors naming the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-cc-'));
  writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ question: 'q', context: 'CREATE TABLE', answer: 'x' }]));
  assert.throws(() => loadCreateContext(join(dir, 'bad.json'), join(dir, 'dbs')), /not valid SQLite DDL/);
  writeFileSync(join(dir, 'bad2.json'), JSON.stringify([{ question: 'q' }]));
  assert.throws(() => loadCreateContext(join(dir, 'bad2.json'), join(dir, 'dbs')), /record 0 needs string fields/);
  assert.throws(() => loadCreateContext(join(dir, 'none.json'), join(dir, 'dbs')), /not found/);
});
