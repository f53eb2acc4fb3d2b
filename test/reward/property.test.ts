// Property: on random (prediction, gold) pairs from Spider dev, the arctic reward is 1.0 exactly when the
// evaluation (same comparison mode) says the pair matches, and 0.1 exactly when it executes but does not.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadSpider, missingDatabases } from '../../src/data/datasets.js';
import { evaluatePredictions } from '../../src/eval/execution-eval.js';
import { rng } from '../../src/random.js';
import { RewardScorer } from '../../src/reward/scorer.js';
import { SqlExecutor } from '../../src/sql/executor.js';
import { SPIDER_DIR, NO_SPIDER } from '../helpers/paths.js';

const executor = new SqlExecutor({ workers: 2, timeoutMs: 5000 });
after(() => executor.close());

test('arctic reward = 1 exactly when eval matches, 0.1 exactly when it runs but differs (300 random Spider dev pairs)', { skip: NO_SPIDER }, async () => {
  const all = loadSpider(SPIDER_DIR, 'dev');
  const missing = new Set(missingDatabases(all).map((e) => e.index));
  const ex = all.filter((e) => !missing.has(e.index));
  const byDb = new Map<string, typeof ex>();
  for (const e of ex) byDb.set(e.dbId, [...(byDb.get(e.dbId) ?? []), e]);
  const random = rng(11);
  const pairs = Array.from({ length: 300 }, () => {
    const gold = ex[Math.floor(random() * ex.length)]!;
    const pool = byDb.get(gold.dbId)!;
    const r = random();
    // a third its own gold, a third another question's gold on the same database, a third broken
    const pred = r < 0.33 ? gold.goldSql : r < 0.66 ? pool[Math.floor(random() * pool.length)]!.goldSql : gold.goldSql.replace(/\bFROM\b/i, 'FROM nosuch_');
    return { gold, pred };
  });
  for (const mode of ['spider', 'strict'] as const) {
    const report = await evaluatePredictions({ examples: pairs.map((p) => p.gold), predictions: pairs.map((p) => p.pred), executor, mode });
    const rewards = await new RewardScorer(executor, { preset: 'arctic', mode }).score(pairs.map((p) => ({ completion: `<answer>\`\`\`sql\n${p.pred}\n\`\`\`</answer>`, dbPath: p.gold.dbPath, goldSql: p.gold.goldSql })));
    let matches = 0;
    report.examples.forEach((e, i) => {
      assert.equal(rewards[i]!.reward === 1, e.status === 'match', `${mode} #${i}: ${e.pred} vs ${e.gold}`);
      assert.equal(rewards[i]!.reward === 0.1, e.status === 'mismatch' || e.status === 'too_large', `${mode} #${i}`);
      if (e.status === 'match') matches++;
    });
    assert.ok(matches > 80 && matches < 250, `${mode}: ${matches} matches is a mixed sample`);
  }
});
