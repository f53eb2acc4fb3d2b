// readSchema on files that are not usable databases: a SchemaReadError naming the file, so a caller can
// skip that example instead of failing the run with SQLite's bare "unable to open database file".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSchema, SchemaReadError } from '../../src/sql/schema.js';
import { smallDbDir } from './small-db.js';

const { dir, db } = smallDbDir('sqlrl-schema-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('the schema of the small database: tables, columns, primary and foreign keys', () => {
  const s = readSchema(db, { samples: 0 });
  assert.deepEqual(
    s.tables.map((t) => [t.name, t.columns.map((c) => `${c.name}${c.pk ? '*' : ''}`), t.foreignKeys]),
    [
      ['singer', ['Singer_ID*', 'Name', 'Country', 'Age'], []],
      ['concert', ['concert_ID*', 'concert_Name', 'Year', 'Singer_ID'], [{ column: 'Singer_ID', refTable: 'singer', refColumn: 'Singer_ID' }]],
    ],
  );
});

test('a missing file and a file that is not a database: SchemaReadError naming the file', () => {
  const gone = join(dir, 'gone.sqlite');
  assert.throws(() => readSchema(gone), (err: unknown) => err instanceof SchemaReadError && err.path === gone && err.message === `cannot read the schema of ${gone}: the database file does not exist`);
  const junk = join(dir, 'junk.sqlite');
  writeFileSync(junk, 'not a database '.repeat(100));
  assert.throws(() => readSchema(junk), (err: unknown) => err instanceof SchemaReadError && err.message === `cannot read the schema of ${junk}: file is not a database`);
});
