import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompletionCache, mapConcurrent, requestKey } from '../../src/eval/generators.js';

const params = { n: 2, temperature: 0.8, topP: 1, maxTokens: 64 };

test('request keys change with the prompt, the model and the parameters', () => {
  const req = { id: 'a', messages: [{ role: 'user' as const, content: 'q' }] };
  const k = requestKey('m', req, params);
  assert.equal(k, requestKey('m', { ...req }, { ...params }));
  assert.notEqual(k, requestKey('m2', req, params));
  assert.notEqual(k, requestKey('m', { id: 'a', messages: [{ role: 'user', content: 'q2' }] }, params));
  assert.notEqual(k, requestKey('m', req, { ...params, temperature: 0 }));
});

test('the completion cache survives a restart and ignores a torn last line', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sqlrl-cache-')), 'sub', 'cache.jsonl');
  const c = new CompletionCache(file);
  c.put('k1', 'a', ['x', 'y']);
  c.put('k2', 'b', ['z', 'w']);
  appendFileSync(file, '{"key":"k3","id":"c","compl');
  const again = new CompletionCache(file);
  assert.equal(again.size, 2);
  assert.deepEqual(again.get('k2'), ['z', 'w']);
  assert.equal(again.get('k3'), undefined);
  assert.equal(readFileSync(file, 'utf8').split('\n').length, 3);
});

test('mapConcurrent keeps order, bounds concurrency, and surfaces the first failure', async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapConcurrent([5, 1, 3, 2, 4], 2, async (x) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, x));
    inFlight--;
    return x * 10;
  });
  assert.deepEqual(out, [50, 10, 30, 20, 40]);
  assert.equal(peak, 2);
  await assert.rejects(mapConcurrent([1, 2, 3], 3, async (x) => { if (x === 2) throw new Error('boom'); return x; }), /boom/);
});
