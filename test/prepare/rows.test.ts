// Row shapes per engine, written out by hand: verl (data_source, prompt, ability, reward_model,
// extra_info), TRL (prompt + the adapter's columns), OpenRLHF (input, label, datasource).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groundTruth, openRlhfRow, trlRow, verlRow } from '../../src/prepare/rows.js';
import type { Example } from '../../src/data/types.js';

const ex: Example = { id: 'bird-train-0007', index: 7, question: 'q?', dbId: 'movies', dbPath: '/x/movies.sqlite', goldSql: 'SELECT "a" FROM t WHERE b = \'c\'', evidence: 'e' };
const prompt = [{ role: 'user' as const, content: 'PROMPT' }];

test('ground truth: JSON {db_id, gold_sql} (quotes escaped), or the example id', () => {
  assert.equal(groundTruth(ex, 'sql'), '{"db_id":"movies","gold_sql":"SELECT \\"a\\" FROM t WHERE b = \'c\'"}');
  assert.equal(groundTruth(ex, 'id'), 'bird-train-0007');
});

test('verl row', () => {
  assert.deepEqual(verlRow(ex, prompt, { dataset: 'bird', split: 'train', groundTruth: 'id' }), {
    data_source: 'bird',
    prompt: [{ role: 'user', content: 'PROMPT' }],
    ability: 'text2sql',
    reward_model: { style: 'rule', ground_truth: 'bird-train-0007' },
    extra_info: { split: 'train', index: 7, example_id: 'bird-train-0007', db_id: 'movies' },
  });
});

test('TRL row carries exactly the columns the adapter scores by', () => {
  assert.deepEqual(trlRow(ex, prompt, 'id'), { prompt, example_id: 'bird-train-0007' });
  assert.deepEqual(trlRow(ex, prompt, 'sql'), { prompt, db_id: 'movies', gold_sql: 'SELECT "a" FROM t WHERE b = \'c\'' });
});

test('OpenRLHF row: input chat, label string, datasource', () => {
  assert.deepEqual(openRlhfRow(ex, prompt, { dataset: 'bird', groundTruth: 'sql' }), {
    input: prompt,
    label: '{"db_id":"movies","gold_sql":"SELECT \\"a\\" FROM t WHERE b = \'c\'"}',
    datasource: 'bird',
  });
});
