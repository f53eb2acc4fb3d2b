// Prompts: BIRD's evidence (and SynSQL's external knowledge) goes before the question, separated by a
// newline, in every template, as OmniSQL's and SQL-R1's evaluation prompts put it ("External knowledge
// can be concatenated with the natural language question", OmniSQL README).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { promptMessages } from '../../src/data/prompt.js';
import type { Example } from '../../src/data/types.js';

function withDb(fn: (dbPath: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-prompt-'));
  try {
    const dbPath = join(dir, 'toy.sqlite');
    const db = new Database(dbPath);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y')");
    db.close();
    fn(dbPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const example = (dbPath: string, evidence?: string): Example => ({
  id: 'bird-dev-0000', index: 0, question: 'How many names?', dbId: 'toy', dbPath, goldSql: 'SELECT count(name) FROM t', ...(evidence ? { evidence } : {}),
});

test('plain and think: the Question section reads evidence, newline, question', () => {
  withDb((dbPath) => {
    for (const template of ['plain', 'think'] as const) {
      const [m] = promptMessages(example(dbPath, "names refer to t.name"), { template });
      assert.equal(m!.role, 'user');
      assert.ok(m!.content.includes('\nQuestion:\nnames refer to t.name\nHow many names?\n\nInstructions:\n'), template);
    }
  });
});

test('compact: evidence and question each on a comment line', () => {
  withDb((dbPath) => {
    const [m] = promptMessages(example(dbPath, 'names refer to t.name'), { template: 'compact' });
    assert.equal(m!.content, 't(id, name)\n-- names refer to t.name\n-- How many names?');
  });
});

test('no evidence: the question alone', () => {
  withDb((dbPath) => {
    const [m] = promptMessages(example(dbPath), { template: 'plain' });
    assert.ok(m!.content.includes('\nQuestion:\nHow many names?\n\nInstructions:\n'));
  });
});

test('the schema is OmniSQL DDL with two example values per column and the primary key', () => {
  withDb((dbPath) => {
    const [m] = promptMessages(example(dbPath), { template: 'plain', samples: 2 });
    assert.ok(m!.content.includes('CREATE TABLE t (\n    id INTEGER, -- example: [1, 2]\n    name TEXT, -- example: [x, y]\n    PRIMARY KEY (id)\n);'));
  });
});
