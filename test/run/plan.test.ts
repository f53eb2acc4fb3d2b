// The configuration checks that keep a run from learning nothing in silence: each case either refuses
// with one line naming the fix, or is a stated adjustment. Unit rules here; the CLI behaviour (exit 2,
// nothing written, logged adjustments) in test/cli/train-checks.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPrompts } from '../../src/data/prompt-fit.js';
import { UsageError } from '../../src/errors.js';
import { resolveDesign } from '../../src/reward/presets.js';
import { referencePolicy, resolveEvalSplit, resolveTemplate, rewardReadsTemplate } from '../../src/run/plan.js';

test('a reward reads a template when a correct answer written as the template asks outscores a wrong one', async () => {
  // SQL-R1 scores <think>/<answer> responses: a plain ```sql answer fails its format check (−1 whatever the result)
  assert.equal(await rewardReadsTemplate(resolveDesign('sql-r1'), 'think'), true);
  assert.equal(await rewardReadsTemplate(resolveDesign('sql-r1'), 'plain'), false);
  assert.equal(await rewardReadsTemplate(resolveDesign('sql-r1'), 'compact'), false);
  assert.equal(await rewardReadsTemplate(resolveDesign('seed-004'), 'plain'), false);
  // Arctic's rule takes the SQL of a ```sql block: plain and think answers have one, bare SQL (compact) does not
  assert.equal(await rewardReadsTemplate(resolveDesign('arctic'), 'plain'), true);
  assert.equal(await rewardReadsTemplate(resolveDesign('arctic'), 'compact'), false);
  assert.equal(await rewardReadsTemplate(resolveDesign({ preset: 'arctic', extract: 'lenient' }), 'compact'), true);
  assert.equal(await rewardReadsTemplate(resolveDesign('seed-000'), 'plain'), true);
});

test('the template follows the reward by default (stated), and a template the reward cannot read is refused naming the fix', async () => {
  const r = await resolveTemplate(resolveDesign('sql-r1'), undefined, 'sql-r1');
  assert.equal(r.template, 'think');
  assert.match(r.adjustment!.message, /--template think/);
  assert.equal((await resolveTemplate(resolveDesign('sql-r1'), 'think', 'sql-r1')).adjustment, null);
  await assert.rejects(resolveTemplate(resolveDesign('sql-r1'), 'plain', 'sql-r1'), (e: Error) => e instanceof UsageError && /--template plain .* reward 'sql-r1' cannot score .* use --template think/.test(e.message));
  await assert.rejects(resolveTemplate(resolveDesign('arctic'), 'compact', 'arctic'), (e: Error) => e instanceof UsageError && /--reward-extract lenient/.test(e.message));
});

test('KL with full-parameter training keeps a frozen copy of the initial weights as the reference (stated); LoRA uses the adapter off', () => {
  assert.deepEqual(referencePolicy(0, 'full'), { frozenCopy: false, adjustment: null });
  assert.deepEqual(referencePolicy(0.04, 'lora'), { frozenCopy: false, adjustment: null });
  const f = referencePolicy(0.04, 'full');
  assert.equal(f.frozenCopy, true);
  assert.match(f.adjustment!.message, /frozen copy of the initial weights/);
});

test('the held-out split follows the dataset: dev for Spider and BIRD, heldout for the built-in benchmark', () => {
  assert.equal(resolveEvalSplit('spider', 'train', undefined).evalSplit, 'dev');
  assert.equal(resolveEvalSplit('bird', 'train', undefined).evalSplit, 'dev');
  assert.equal(resolveEvalSplit('builtin', 'train', undefined).evalSplit, 'heldout');
  assert.equal(resolveEvalSplit('spider', 'train', 'custom').evalSplit, 'custom');
  const j = resolveEvalSplit('jsonl', 'train', undefined);
  assert.equal(j.evalSplit, 'train');
  assert.match(j.adjustment!.message, /evaluating on the training file/);
});

test('prompts longer than the limit are never cut: refused naming the options, or dropped and counted', () => {
  const lengths = [10, 50, 20, 70];
  assert.throws(() => fitPrompts(lengths, (n) => n, 40, 'error'), (e: Error) => e instanceof UsageError && /2 of 4 prompts exceed --max-prompt-length 40 \(longest 70 tokens\).*--template compact.*--long-prompts drop/.test(e.message));
  assert.deepEqual(fitPrompts(lengths, (n) => n, 40, 'drop'), { kept: [10, 20], dropped: [50, 70], longest: 70 });
  assert.deepEqual(fitPrompts(lengths, (n) => n, 70, 'error'), { kept: lengths, dropped: [], longest: 70 });
});
