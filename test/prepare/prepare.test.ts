// prepare(): which examples become rows. Difficulty filter, then offset and limit, then the ones left
// out with their reason (database missing, gold SQL failing, gold SQL empty when asked), worked out by
// hand on a small SynSQL-format folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { prepare, type PrepareOptions } from '../../src/prepare/prepare.js';
import { UsageError } from '../../src/errors.js';

let dir: string;
const HC = 'Highly Complex';
const records = [
  { db_id: 'shop', sql_complexity: 'Simple', question: 'q0', sql: 'SELECT count(*) FROM customers' },
  { db_id: 'shop', sql_complexity: HC, question: 'q1', sql: 'SELECT name FROM customers WHERE total > 100' }, // no rows
  { db_id: 'shop', sql_complexity: HC, question: 'q2', sql: 'SELECT nope FROM customers' }, // error
  { db_id: 'zoo', sql_complexity: HC, question: 'q3', sql: 'SELECT name FROM animals' },
  { db_id: 'ghost', sql_complexity: HC, question: 'q4', sql: 'SELECT 1' }, // database missing
  { db_id: 'zoo', sql_complexity: HC, question: 'q5', sql: 'SELECT count(*) FROM animals' },
];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sqlrl-prepare-api-'));
  for (const [db, ddl] of [['shop', "CREATE TABLE customers (name TEXT, total REAL); INSERT INTO customers VALUES ('Ann', 3.5)"], ['zoo', "CREATE TABLE animals (name TEXT); INSERT INTO animals VALUES ('Rex')"]]) {
    mkdirSync(join(dir, 'databases', db!), { recursive: true });
    const d = new Database(join(dir, 'databases', db!, `${db}.sqlite`));
    d.exec(ddl!);
    d.close();
  }
  writeFileSync(join(dir, 'data.json'), JSON.stringify(records));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const base = (out: string): PrepareOptions => ({
  dataset: 'synsql', dataDir: dir, split: 'train', template: 'plain', samples: 2, format: 'openrlhf', output: join(dir, out),
  groundTruth: 'sql', maxPromptLength: 4096, longPrompts: 'error', checkGold: true, dropEmptyGold: false, timeout: 5, workers: 1, force: false,
});

test('difficulty, then offset and limit, then the unrunnable left out with their reasons', async () => {
  const lines: string[] = [];
  const s = await prepare({ ...base('a'), difficulty: [HC], offset: 1, limit: 4 }, (l) => lines.push(l));
  // Highly Complex: 1 2 3 4 5; offset 1 -> 2 3 4 5; 4 has no database, 2's gold fails -> rows 3 and 5
  const rows = readFileSync(join(dir, 'a', 'train.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { label: string });
  assert.deepEqual(rows.map((r) => JSON.parse(r.label)), [{ db_id: 'zoo', gold_sql: 'SELECT name FROM animals' }, { db_id: 'zoo', gold_sql: 'SELECT count(*) FROM animals' }]);
  assert.equal(s.rows, 2);
  assert.equal(s.loaded, 4);
  assert.deepEqual(s.left_out, { database_missing: 1, gold_error: 1, gold_timeout: 0, gold_too_large: 0, gold_empty: 0, prompt_too_long: 0 });
  assert.deepEqual(s.examples_left_out.map((l) => [l.id, l.reason]), [['synsql-0000004', 'database_missing'], ['synsql-0000002', 'gold_error']]);
  assert.match(s.examples_left_out[1]!.detail!, /no such column: nope/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'a', 'train.openrlhf.summary.json'), 'utf8')).rows, 2);
  assert.ok(lines.some((l) => /left out 1 example\(s\) whose database is missing \(ghost\)/.test(l)));
});

test('--drop-empty-gold leaves out gold SQL returning no rows; --no-check-gold keeps every example with a database', async () => {
  const s = await prepare({ ...base('b'), difficulty: [HC], dropEmptyGold: true });
  assert.deepEqual(s.examples_left_out.map((l) => [l.id, l.reason]).sort(), [['synsql-0000001', 'gold_empty'], ['synsql-0000002', 'gold_error'], ['synsql-0000004', 'database_missing']]);
  assert.equal(s.rows, 2);
  const all = await prepare({ ...base('c'), checkGold: false });
  assert.equal(all.rows, 5);
  assert.deepEqual(all.left_out.database_missing, 1);
});

test('nothing left to write is a UsageError and writes no file', async () => {
  await assert.rejects(prepare({ ...base('d'), difficulty: [HC], limit: 2, dropEmptyGold: true }), (err: unknown) => err instanceof UsageError && /no example of synsql train is left to write/.test((err as Error).message));
  assert.ok(!existsSync(join(dir, 'd')) || readdirSync(join(dir, 'd')).length === 0);
  await assert.rejects(prepare({ ...base('e'), difficulty: ['Impossible'] }), /no examples in synsql train with difficulty Impossible/);
});
