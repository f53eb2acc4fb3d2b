// The verl parquet writer: several row groups, non-ASCII text, several messages per prompt and large
// indices survive a read-back with hyparquet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { VerlParquetWriter } from '../../src/prepare/parquet.js';
import type { VerlRow } from '../../src/prepare/rows.js';

const row = (i: number): VerlRow => ({
  data_source: i % 2 ? 'bird' : 'spider',
  prompt: i % 3 ? [{ role: 'user', content: `Frage ${i}: wie viele Sänger? 🎤` }] : [{ role: 'system', content: 'sys' }, { role: 'user', content: `q${i}` }],
  ability: 'text2sql',
  reward_model: { style: 'rule', ground_truth: `{"db_id":"d${i}","gold_sql":"SELECT ${i}"}` },
  extra_info: { split: 'train', index: i * 1000003, example_id: `x-${i}`, db_id: `d${i}` },
});

test('1500 rows in two row groups read back equal, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-parquet-'));
  try {
    const file = join(dir, 'train.parquet');
    const w = new VerlParquetWriter(file);
    const rows = Array.from({ length: 1500 }, (_, i) => row(i));
    w.write(rows.slice(0, 1000));
    w.write(rows.slice(1000));
    w.close();
    const buf = await asyncBufferFromFile(file);
    const meta = await parquetMetadataAsync(buf);
    assert.deepEqual(meta.row_groups.map((g) => Number(g.num_rows)), [1000, 500]);
    const back = (await parquetReadObjects({ file: buf })) as (VerlRow & { extra_info: { index: bigint } })[];
    assert.equal(back.length, 1500);
    assert.deepEqual(back.map((r) => ({ ...r, extra_info: { ...r.extra_info, index: Number(r.extra_info.index) } })), rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
