// Custom rewards: a TypeScript module named as the reward, a YAML config naming modules for their components,
// an installed npm package, async components, and one-line errors for each way it can go wrong.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/datasets.js';
import { loadReward, loadRewardConfig } from '../../src/reward/config.js';
import { RewardScorer } from '../../src/reward/scorer.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { REPO_ROOT } from '../helpers/paths.js';

const executor = new SqlExecutor({ workers: 1, timeoutMs: 5000 });
after(() => executor.close());
const ex = loadDataset({ dataset: 'sample' })[0]!; // SELECT count(*) FROM customers
const item = (completion: string, prefix?: string) => ({ completion, dbPath: ex.dbPath, goldSql: ex.goldSql, ...(prefix !== undefined ? { prefix } : {}) });
const fence = (sql: string) => '```sql\n' + sql + '\n```';
const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-custom-'));

test('a TypeScript reward module as the reward: built-in execution + its own short_sql component', async () => {
  const loaded = await loadReward(join(REPO_ROOT, 'examples/custom-reward/short-sql.ts'));
  const scorer = new RewardScorer(executor, loaded);
  assert.equal(scorer.design.name, 'arctic+short-sql');
  assert.equal(scorer.design.extract, 'arctic', 'the preset it starts from keeps its extraction');
  const out = await scorer.score([item(fence(ex.goldSql)), item(fence('SELECT count(*) FROM products')), item(fence(`SELECT count(*) FROM customers WHERE ${'1 = 1 AND '.repeat(12)}1 = 1`))]);
  // match, 30 chars: 1 + 0.1 · 1; mismatch: 0.1 + 0; match but 30 + 7 (' WHERE ') + 12 · 10 ('1 = 1 AND ') + 5 = 162 chars > 120: 1 + 0
  assert.deepEqual(out.map((r) => [r.reward, r.components]), [[1.1, { execution: 1, short_sql: 0.1 }], [0.1, { execution: 0.1, short_sql: 0 }], [1, { execution: 1, short_sql: 0 }]]);
  assert.deepEqual(out[2]!.details.short_sql, { chars: 162 });
});

test('a YAML config naming the module under modules: (path relative to the YAML) composes it with SQL-R1 terms', async () => {
  const scorer = new RewardScorer(executor, await loadReward(join(REPO_ROOT, 'examples/custom-reward/reward.yaml')));
  assert.equal(scorer.design.extract, 'sql-r1');
  const body = `plan\n</think>\n<answer>\n${fence(ex.goldSql)}\n</answer>`;
  const [r] = await scorer.score([item(body, '<think>\n')]);
  // format 1 + execution 2 + result 3 + short_sql 0.5 · 1 (30 ≤ 60); no length term in this list
  assert.deepEqual(r!.components, { format: 1, execution: 2, result: 3, short_sql: 0.5 });
  assert.equal(r!.reward, 6.5);
});

test('an installed npm package and an async component (JavaScript, resolved from the base directory)', async () => {
  const dir = join(tmp, 'project');
  mkdirSync(join(dir, 'node_modules/sql-judge'), { recursive: true });
  writeFileSync(join(dir, 'node_modules/sql-judge/package.json'), JSON.stringify({ name: 'sql-judge', type: 'module', exports: './index.js' }));
  writeFileSync(
    join(dir, 'node_modules/sql-judge/index.js'),
    `export default { components: [{ name: 'execution' }, { name: 'judge', weight: 2 }], custom: { judge: async (ctx) => { await new Promise((r) => setTimeout(r, 5)); return { value: ctx.extraction.sql && /count/i.test(ctx.extraction.sql) ? 0.25 : 0 }; } } };\n`,
  );
  const scorer = new RewardScorer(executor, await loadReward('sql-judge', { baseDir: dir, mode: 'bird' }));
  assert.deepEqual([scorer.design.name, scorer.design.mode, scorer.design.extract], ['sql-judge', 'bird', 'lenient']);
  const out = await scorer.score([item(ex.goldSql), item('SELECT name FROM customers')]);
  // lenient extraction takes bare SQL; execution 1 / 0; judge 2 · 0.25 when the SQL counts
  assert.deepEqual(out.map((r) => r.reward), [1.5, 0]);
});

test('mistakes get one-line errors naming what is wrong', async () => {
  const write = (name: string, text: string) => {
    writeFileSync(join(tmp, name), text);
    return join(tmp, name);
  };
  const cases: [string, RegExp][] = [
    [write('typo.mjs', `export default { preset: 'arctic', components: [{ name: 'exection' }] };`), /unknown reward component 'exection' \(known: execution, result, syntax/],
    [write('shadow.mjs', `export default { preset: 'arctic', custom: { execution: () => ({ value: 1 }) } };`), /custom component 'execution' has a built-in's name/],
    [write('nodesign.mjs', `export default { custom: { x: () => ({ value: 1 }) } };`), /has neither a preset nor components/],
    [write('notobj.mjs', `export default 42;`), /must default-export an object/],
    [write('notfn.mjs', `export default { preset: 'arctic', custom: { x: 3 } };`), /custom\.x is not a function/],
    [write('broken.ts', `export default {;`), /failed to load/],
    [join(tmp, 'missing.ts'), /not found \(looked at /],
    ['no-such-package-xyz', /unknown reward preset 'no-such-package-xyz'/],
    [write('bad.yaml', `preset: arctic\nmodules: [./missing-module.ts]\n`), /reward module '\.\/missing-module\.ts' not found/],
  ];
  for (const [spec, msg] of cases) {
    await assert.rejects(loadReward(spec), (err: Error) => {
      assert.equal(err.name, 'UsageError', spec);
      assert.match(err.message, msg);
      assert.ok(!err.message.includes('\n'), err.message);
      return true;
    });
  }
  const bad = write('runtime.mjs', `export default { preset: 'arctic', components: [{ name: 'nan' }], custom: { nan: () => ({ value: NaN }) } };`);
  await assert.rejects(new RewardScorer(executor, await loadReward(bad)).score([item(fence(ex.goldSql))]), /reward component 'nan' returned \{"value":null\} \(needs \{value: finite number\}\)/);
  // the synchronous loader (presets and YAML) says where modules load
  assert.throws(() => loadRewardConfig(join(REPO_ROOT, 'examples/custom-reward/short-sql.ts')), /loads asynchronously: use loadReward\(\)/);
  assert.throws(() => loadRewardConfig(join(REPO_ROOT, 'examples/custom-reward/reward.yaml')), /names modules \(\.\/short-sql\.ts\): load it with loadReward\(\)/);
  assert.deepEqual(loadRewardConfig('arctic', undefined, 'lenient'), { preset: 'arctic', extract: 'lenient' });
});
