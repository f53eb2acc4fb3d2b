// The built-in benchmark: deterministic, every gold query returns rows, splits disjoint, an unseen database held out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateSynth, HELD_OUT_DB, loadSynth } from '../../src/data/synth.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-synth-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('same seed, same files; another seed, other rows', () => {
  const a = generateSynth({ seed: 3, outDir: join(tmp, 'a'), trainRounds: 4, heldoutRounds: 4 });
  const b = generateSynth({ seed: 3, outDir: join(tmp, 'b'), trainRounds: 4, heldoutRounds: 4 });
  const c = generateSynth({ seed: 4, outDir: join(tmp, 'c'), trainRounds: 4, heldoutRounds: 4 });
  for (const f of ['train.jsonl', 'rl.jsonl', 'heldout.jsonl']) assert.equal(readFileSync(join(a.dir, f), 'utf8'), readFileSync(join(b.dir, f), 'utf8'), f);
  assert.notEqual(readFileSync(join(a.dir, 'train.jsonl'), 'utf8'), readFileSync(join(c.dir, 'train.jsonl'), 'utf8'));
});

test('splits: every gold query returns rows; train, rl and held-out questions never overlap; the unseen database is only held out', () => {
  const opts = { seed: 0, outDir: join(tmp, 'full') };
  const splits = { train: loadSynth('train', opts), rl: loadSynth('rl', opts), heldout: loadSynth('heldout', opts) };
  const keys = Object.fromEntries(Object.entries(splits).map(([k, v]) => [k, new Set(v.map((e) => `${e.dbId}|${e.question}`))]));
  for (const k of keys.rl!) assert.ok(!keys.train!.has(k), k);
  for (const k of keys.heldout!) assert.ok(!keys.train!.has(k) && !keys.rl!.has(k), k);
  assert.ok(splits.train.every((e) => e.dbId !== HELD_OUT_DB) && splits.rl.every((e) => e.dbId !== HELD_OUT_DB));
  assert.ok(splits.heldout.some((e) => e.dbId === HELD_OUT_DB) && splits.heldout.some((e) => e.dbId !== HELD_OUT_DB));
  // the last paraphrase of a template (here: count and count_where's "What is the number of ...") is held back from SFT
  const heldBack = (e: { question: string }) => e.question.startsWith('What is the number of');
  assert.ok(!splits.train.some(heldBack));
  assert.ok(splits.rl.some(heldBack) && splits.heldout.some((e) => heldBack(e) && e.dbId !== HELD_OUT_DB));
  const families = new Set(splits.train.map((e) => e.difficulty));
  for (const f of ['count', 'where_eq', 'group_count', 'having', 'top1', 'join_where', 'nested_in', 'nested_avg', 'agg_avg']) assert.ok(families.has(f), f);
  const dbs = new Map<string, Database.Database>();
  for (const e of [...splits.train, ...splits.rl, ...splits.heldout]) {
    let db = dbs.get(e.dbPath);
    if (!db) dbs.set(e.dbPath, (db = new Database(e.dbPath, { readonly: true })));
    assert.ok(db.prepare(e.goldSql).all().length > 0, e.goldSql);
  }
  for (const db of dbs.values()) db.close();
});
