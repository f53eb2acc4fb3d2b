// SynSQL-2.5M loader: OmniSQL's record format in a JSON array (data.json) or JSONL subset, databases in
// databases/<db_id>/<db_id>.sqlite; ids are the record's position in the file whatever the filters;
// external_knowledge is the evidence; the file is streamed (records split across read chunks, multi-byte
// characters included, come back whole).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadSynsql } from '../../src/data/synsql.js';
import { loadDataset } from '../../src/data/datasets.js';
import { promptMessages } from '../../src/data/prompt.js';

let dir: string;
const records = [
  { db_id: 'shop', sql_complexity: 'Simple', question_style: 'Formal', question: 'How many customers?', external_knowledge: '', cot: 'count them', sql: 'SELECT count(*) FROM customers;' },
  { db_id: 'shop', sql_complexity: 'Highly Complex', question_style: 'Vague', question: 'Top spender?', external_knowledge: 'Spender means the customer with the highest total.', cot: '...', sql: 'SELECT name FROM customers ORDER BY total DESC LIMIT 1' },
  { db_id: 'zoo', sql_complexity: 'Moderate', question_style: 'Formal', question: 'Animals?', external_knowledge: null, cot: '', sql: 'SELECT * FROM animals' },
  { db_id: 'zoo', sql_complexity: 'highly complex', question_style: 'Formal', question: 'Oldest animal?', external_knowledge: 'Oldest = max age', cot: '', sql: 'SELECT name FROM animals ORDER BY age DESC LIMIT 1' },
];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sqlrl-synsql-'));
  for (const db of ['shop', 'zoo']) {
    mkdirSync(join(dir, 'databases', db), { recursive: true });
    const d = new Database(join(dir, 'databases', db, `${db}.sqlite`));
    d.exec(db === 'shop' ? "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, total REAL); INSERT INTO customers VALUES (1, 'Ann', 3.5)" : "CREATE TABLE animals (name TEXT, age INT); INSERT INTO animals VALUES ('Rex', 4)");
    d.close();
  }
  writeFileSync(join(dir, 'data.json'), JSON.stringify(records, null, 2) + '\n'); // pretty-printed, as the release is
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('data.json: every record in file order, id and index = position, evidence from external_knowledge, difficulty from sql_complexity', () => {
  const ex = loadSynsql(dir);
  assert.deepEqual(
    ex.map((e) => [e.id, e.index, e.dbId, e.question, e.goldSql, e.evidence, e.difficulty]),
    [
      ['synsql-0000000', 0, 'shop', 'How many customers?', 'SELECT count(*) FROM customers;', undefined, 'Simple'],
      ['synsql-0000001', 1, 'shop', 'Top spender?', 'SELECT name FROM customers ORDER BY total DESC LIMIT 1', 'Spender means the customer with the highest total.', 'Highly Complex'],
      ['synsql-0000002', 2, 'zoo', 'Animals?', 'SELECT * FROM animals', undefined, 'Moderate'],
      ['synsql-0000003', 3, 'zoo', 'Oldest animal?', 'SELECT name FROM animals ORDER BY age DESC LIMIT 1', 'Oldest = max age', 'highly complex'],
    ],
  );
  assert.equal(ex[0]!.dbPath, join(dir, 'databases', 'shop', 'shop.sqlite'));
});

test('complexity filter (case-insensitive) and limit keep positional ids', () => {
  assert.deepEqual(loadSynsql(dir, { complexity: ['Highly Complex'] }).map((e) => e.id), ['synsql-0000001', 'synsql-0000003']);
  assert.deepEqual(loadSynsql(dir, { limit: 2 }).map((e) => e.id), ['synsql-0000000', 'synsql-0000001']);
  assert.deepEqual(loadSynsql(dir, { complexity: ['moderate', 'highly complex'], limit: 2 }).map((e) => e.id), ['synsql-0000001', 'synsql-0000002']);
});

test('a JSONL subset (as SQL-R1 samples it) loads the same way; databases default to databases/ beside it', () => {
  const file = join(dir, 'subset.jsonl');
  writeFileSync(file, records.slice(1, 3).map((r) => JSON.stringify(r)).join('\n')); // no trailing newline
  const ex = loadSynsql(file);
  assert.deepEqual(ex.map((e) => [e.id, e.dbId]), [['synsql-0000000', 'shop'], ['synsql-0000001', 'zoo']]);
  assert.equal(ex[1]!.dbPath, join(dir, 'databases', 'zoo', 'zoo.sqlite'));
});

test('loadDataset synsql: --data-dir folder, or --file with --data-dir giving the databases', () => {
  assert.equal(loadDataset({ dataset: 'synsql', dataDir: dir }).length, 4);
  const file = join(dir, 'subset.json');
  writeFileSync(file, JSON.stringify(records.slice(2)));
  const ex = loadDataset({ dataset: 'synsql', dataDir: dir, file });
  assert.deepEqual(ex.map((e) => e.dbPath), [join(dir, 'databases', 'zoo', 'zoo.sqlite'), join(dir, 'databases', 'zoo', 'zoo.sqlite')]);
  assert.throws(() => loadDataset({ dataset: 'synsql' }), /--data-dir is required for --dataset synsql/);
});

test('records larger than a read chunk, with multi-byte characters across the boundary, come back whole', () => {
  const big = join(dir, 'big.json');
  const long = 'é🙂'.repeat(1_500_000); // ~9 MB of UTF-8, several 4 MiB chunks
  writeFileSync(big, JSON.stringify([{ ...records[0], external_knowledge: long }, records[3]]));
  const ex = loadSynsql(big, { dbDir: join(dir, 'databases') });
  assert.equal(ex.length, 2);
  assert.equal(ex[0]!.evidence, long);
  assert.equal(ex[1]!.question, 'Oldest animal?');
});

test('the evidence is prepended to the question in the prompt, as OmniSQL does', () => {
  const ex = loadSynsql(dir)[3]!;
  const [m] = promptMessages(ex, { template: 'plain' });
  assert.ok(m!.content.includes('Question:\nOldest = max age\nOldest animal?\n'));
});

test('bad files: missing, missing field, not JSON, truncated, each one line naming the file', () => {
  assert.throws(() => loadSynsql(join(dir, 'nope')), /SynSQL file '.*nope' not found \(pass --data-dir/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify([records[0], { question: 'q', sql: 'SELECT 1' }]));
  assert.throws(() => loadSynsql(bad), /bad\.json: example 1 has no string field 'db_id'/);
  writeFileSync(bad, '[{"db_id": "shop", "question": "q", "sql": "SELECT 1"}, {oops}]');
  assert.throws(() => loadSynsql(bad), /bad\.json: not valid JSON after record 0/);
  writeFileSync(bad, '[{"db_id": "shop", "question": "q", "sql": "SELECT 1"}, {"db_id": "sh');
  assert.throws(() => loadSynsql(bad), /bad\.json: not valid JSON/);
  writeFileSync(bad, '[1, 2]');
  assert.throws(() => loadSynsql(bad), /bad\.json: record 0 is not a JSON object/);
});
