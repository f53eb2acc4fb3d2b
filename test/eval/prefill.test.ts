// A template's prefilled assistant text in evaluation: generation prompts end with it (native prompt text;
// an endpoint gets it as a final assistant message to continue) and extraction reads prefill + completion.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadDataset } from '../../src/data/datasets.js';
import { targetText, templatePrefill } from '../../src/data/prompt.js';
import { evaluateGenerator } from '../../src/eval/generate-eval.js';
import { EndpointGenerator, promptText, type GenerationParams, type GenerationRequest, type Generator } from '../../src/eval/generators.js';
import { extractWith } from '../../src/reward/extract.js';
import { SqlExecutor } from '../../src/sql/executor.js';

const executor = new SqlExecutor({ workers: 1, timeoutMs: 5000 });
after(() => executor.close());

test("templatePrefill: think prefills '<think>\\n' (SQL-R1's prompt), plain and compact nothing; SFT targets start with it", () => {
  assert.equal(templatePrefill('think'), '<think>\n');
  assert.equal(templatePrefill('plain'), '');
  assert.equal(templatePrefill('compact'), '');
  for (const t of ['think', 'plain', 'compact'] as const) assert.ok(targetText('SELECT 1', t).startsWith(templatePrefill(t)), t);
});

test('native prompts: the chat template with its generation prompt, then the prefill', () => {
  const render = (m: { content: string }[], o: { addGenerationPrompt: boolean }) => m.map((x) => `<u>${x.content}</u>`).join('') + (o.addGenerationPrompt ? '<a>' : '');
  assert.equal(promptText(render, { id: 'x', messages: [{ role: 'user', content: 'q' }], prefill: '<think>\n' }), '<u>q</u><a><think>\n');
  assert.equal(promptText(render, { id: 'x', messages: [{ role: 'user', content: 'q' }] }), '<u>q</u><a>');
});

test('evaluateGenerator: requests carry the prefill, extraction and the report see prefill + completion', async () => {
  const examples = loadDataset({ dataset: 'sample' }).slice(0, 2);
  const seen: GenerationRequest[] = [];
  // a generator that answers in SQL-R1's format from inside the think block, as a model after the prefill does
  const generator: Generator = {
    name: 'scripted',
    async generate(requests: GenerationRequest[], params: GenerationParams) {
      seen.push(...requests);
      return requests.map((r) => Array.from({ length: params.n }, () => `ok\n</think>\n<answer>\n\`\`\`sql\n${examples.find((e) => e.id === r.id)!.goldSql}\n\`\`\`\n</answer>`));
    },
  };
  const report = await evaluateGenerator({
    examples,
    generator,
    messages: (ex) => [{ role: 'user', content: ex.question }],
    extract: (response) => extractWith('sql-r1', response).sql, // needs the <think> the prompt prefilled
    prefill: '<think>\n',
    executor,
    mode: 'spider',
    maxTokens: 64,
  });
  assert.deepEqual(seen.map((r) => r.prefill), ['<think>\n', '<think>\n']);
  assert.deepEqual(report.examples.map((e) => e.status), ['match', 'match']);
  assert.ok(report.examples.every((e) => e.completion!.startsWith('<think>\nok\n</think>')));
  const without = await evaluateGenerator({ examples, generator, messages: (ex) => [{ role: 'user', content: ex.question }], extract: (r) => extractWith('sql-r1', r).sql, executor, mode: 'spider', maxTokens: 64 });
  assert.deepEqual(without.examples.map((e) => e.status), ['no_sql', 'no_sql'], 'without the prefill the format check fails');
  assert.equal(seen.at(-1)!.prefill, undefined, 'no prefill field when there is none (cache keys of such runs stay as they were)');
});

test('an OpenAI-compatible endpoint gets the prefill as a final assistant message to continue (continue_final_message)', async () => {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      bodies.push(JSON.parse(data) as Record<string, unknown>);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'done' } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const gen = new EndpointGenerator({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, model: 'm', maxRetries: 0 });
    const params = { n: 1, temperature: 0, topP: 1, maxTokens: 8 };
    await gen.generate([{ id: 'a', messages: [{ role: 'user', content: 'q' }], prefill: '<think>\n' }], params);
    await gen.generate([{ id: 'b', messages: [{ role: 'user', content: 'q' }] }], params);
    assert.deepEqual(bodies[0]!.messages, [{ role: 'user', content: 'q' }, { role: 'assistant', content: '<think>\n' }]);
    assert.equal(bodies[0]!.continue_final_message, true);
    assert.equal(bodies[0]!.add_generation_prompt, false);
    assert.deepEqual(bodies[1]!.messages, [{ role: 'user', content: 'q' }]);
    assert.ok(!('continue_final_message' in bodies[1]!));
  } finally {
    server.close();
  }
});
