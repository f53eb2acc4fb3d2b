// The recipes' configs use only fields that exist in the versions they are pinned to: verl 0.9.1's
// composed PPO trainer config, TRL 1.16.0's GRPOConfig and ModelConfig. The schema is read from the
// installed package when that exact version is installed, otherwise from the pinned copy of its field
// list in test/examples/pinned/ (each file states its source). The hyper-parameters are the published
// ones (shared/design/ANCHORS.md), restated here by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { pythonWith } from '../helpers/optional.js';
import { REPO_ROOT } from '../helpers/paths.js';

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every dotted key path of a YAML tree (maps are descended, lists are values). */
function keyPaths(tree: Tree, prefix = '', stopAt: Set<string> = new Set()): string[] {
  return Object.entries(tree).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return [p, ...(isTree(v) && !stopAt.has(p) ? keyPaths(v, p, stopAt) : [])];
  });
}

const pinned = (file: string) =>
  readFileSync(join(REPO_ROOT, 'test/examples/pinned', file), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));

const py = (code: string, python: string) => spawnSync(python, ['-c', code], { encoding: 'utf8' });

/** verl 0.9.1's key paths: from the installed package (located without importing it) if it is 0.9.1, else pinned. */
function verlKeys(): { keys: Set<string>; source: string } {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = py("import importlib.metadata as m, importlib.util as u, os; s = u.find_spec('verl'); print(m.version('verl')); print(os.path.join(s.submodule_search_locations[0], 'trainer', 'config', '_generated_ppo_trainer.yaml'))", python);
    const [version, file] = r.stdout.trim().split('\n');
    if (r.status === 0 && version === '0.9.1' && file) return { keys: new Set(keyPaths(parse(readFileSync(file, 'utf8')) as Tree)), source: file };
  }
  return { keys: new Set(pinned('verl-0.9.1-ppo_trainer-keys.txt')), source: 'pinned verl-0.9.1-ppo_trainer-keys.txt' };
}

/** TRL 1.16.0's GRPOConfig + ModelConfig fields: from the installed package if it is 1.16.0, else pinned. */
function trlFields(): { keys: Set<string>; source: string } {
  const python = pythonWith('trl');
  if (python) {
    const r = py("import dataclasses, json, trl; from trl import GRPOConfig, ModelConfig; print(trl.__version__); print(json.dumps([f.name for c in (GRPOConfig, ModelConfig) for f in dataclasses.fields(c)]))", python);
    const [version, json] = r.stdout.trim().split('\n').slice(-2);
    if (r.status === 0 && version === '1.16.0' && json) return { keys: new Set(JSON.parse(json) as string[]), source: `trl ${version} installed (${python})` };
  }
  return { keys: new Set(pinned('trl-1.16.0-grpo-fields.txt')), source: 'pinned trl-1.16.0-grpo-fields.txt' };
}

// Keys verl reads that its YAML schema does not list: get_custom_reward_fn (verl/trainer/ppo/reward.py)
// passes reward.custom_reward_function.reward_kwargs to every call, whatever its keys.
const FREE_FORM = new Set(['reward.custom_reward_function.reward_kwargs']);

function unknownVerlKeys(config: Tree, schema: Set<string>): string[] {
  const { hydra: _h, defaults: _d, ...rest } = config;
  return keyPaths(rest, '', FREE_FORM).filter((k) => !schema.has(k) && !FREE_FORM.has(k));
}

const verlConfig = (name: string) => parse(readFileSync(join(REPO_ROOT, 'examples/verl', name, 'config.yaml'), 'utf8')) as Tree;
const get = (t: Tree, path: string): unknown => path.split('.').reduce<unknown>((n, k) => (isTree(n) ? n[k] : undefined), t);

test('verl recipes (sql-r1, arctic): every key exists in verl 0.9.1\'s ppo_trainer schema; a Hydra config over ppo_trainer', (t) => {
  const { keys, source } = verlKeys();
  t.diagnostic(`schema: ${source}`);
  assert.ok(keys.has('actor_rollout_ref.rollout.n') && keys.has('reward.custom_reward_function.path'), `schema from ${source} looks wrong`);
  for (const name of ['sql-r1', 'arctic']) {
    const config = verlConfig(name);
    assert.deepEqual(config.defaults, ['ppo_trainer', '_self_'], name);
    assert.deepEqual(unknownVerlKeys(config, keys), [], `${name}: keys not in ${source}`);
    assert.equal(get(config, 'reward.custom_reward_function.name'), 'compute_score');
    assert.match(String(get(config, 'reward.custom_reward_function.path')), /integrations\/python\/sqlrl_rewards\.py$/);
    assert.deepEqual(Object.keys(get(config, 'reward.custom_reward_function.reward_kwargs') as Tree), ['url', 'token']);
    assert.equal(get(config, 'data.truncation'), 'error', 'prompts are never cut');
  }
});

test('the verl key check can fail: a misspelt key and a key at the wrong level are reported', () => {
  const { keys } = verlKeys();
  const config = verlConfig('sql-r1');
  const bad = { ...config, data: { ...(config.data as Tree), max_prompt_len: 4096 }, rollout: { n: 8 } };
  assert.deepEqual(unknownVerlKeys(bad, keys), ['data.max_prompt_len', 'rollout', 'rollout.n']);
});

test('sql-r1 recipe: SQL-R1\'s published GRPO settings (sh/train.sh)', () => {
  const c = verlConfig('sql-r1');
  assert.deepEqual(
    ['algorithm.adv_estimator', 'actor_rollout_ref.rollout.n', 'actor_rollout_ref.rollout.temperature', 'actor_rollout_ref.actor.optim.lr', 'actor_rollout_ref.actor.use_kl_loss', 'actor_rollout_ref.actor.kl_loss_coef', 'actor_rollout_ref.actor.kl_loss_type', 'data.train_batch_size', 'actor_rollout_ref.actor.ppo_mini_batch_size', 'data.max_prompt_length', 'data.max_response_length', 'trainer.total_epochs'].map((k) => get(c, k)),
    ['grpo', 8, 1.1, 3e-7, true, 0.001, 'low_var_kl', 8, 8, 4096, 2048, 10],
  );
});

test('arctic recipe: Arctic-Text2SQL-R1\'s published GRPO settings (16 rollouts, batch 256, update batch 128, T 0.8, KL 0.001, clip 0.2)', () => {
  const c = verlConfig('arctic');
  assert.deepEqual(
    ['algorithm.adv_estimator', 'actor_rollout_ref.rollout.n', 'data.train_batch_size', 'actor_rollout_ref.actor.ppo_mini_batch_size', 'actor_rollout_ref.rollout.temperature', 'actor_rollout_ref.actor.kl_loss_coef', 'actor_rollout_ref.actor.clip_ratio'].map((k) => get(c, k)),
    ['grpo', 16, 256, 128, 0.8, 0.001, 0.2],
  );
});

test('TRL recipe: every key of grpo.yaml is a field of GRPOConfig or ModelConfig (trl 1.16.0) or of grpo.py\'s SqlrlArguments', (t) => {
  const { keys, source } = trlFields();
  t.diagnostic(`fields: ${source}`);
  assert.ok(keys.has('num_generations') && keys.has('lora_r') && keys.has('learning_rate'), `fields from ${source} look wrong`);
  const script = readFileSync(join(REPO_ROOT, 'examples/trl/grpo.py'), 'utf8');
  const block = /# sqlrl-arguments-begin[\s\S]*?# sqlrl-arguments-end/.exec(script)?.[0] ?? '';
  const own = [...block.matchAll(/^ {4}(\w+): /gm)].map((m) => m[1]!);
  assert.deepEqual(own, ['train_file', 'eval_file', 'sqlrl_url']);
  const config = parse(readFileSync(join(REPO_ROOT, 'examples/trl/grpo.yaml'), 'utf8')) as Tree;
  assert.deepEqual(Object.keys(config).filter((k) => !keys.has(k) && !own.includes(k)), [], `keys not in ${source}`);
  assert.ok(!keys.has('max_prompt_length'), 'TRL >= 1.0 has no max_prompt_length: prompt lengths are checked by sqlrl prepare');
  // seed 001 / Arctic values; LoRA r16 a32 on every projection
  assert.deepEqual(
    ['num_generations', 'temperature', 'beta', 'epsilon', 'learning_rate', 'use_peft', 'lora_r', 'lora_alpha'].map((k) => config[k]),
    [16, 0.8, 0.001, 0.2, 1e-6, true, 16, 32],
  );
  assert.deepEqual(config.lora_target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
});
