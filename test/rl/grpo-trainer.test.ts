// The GRPO loop (collect → update → record) with fakes for the policy and the scorer, and a learning test
// on a real tiny model: the mean reward must rise within a few dozen steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Example } from '../../src/data/types.js';
import { loadHfDir } from '../../src/engine/io/load.js';
import { CpuPolicy } from '../../src/engine/policy.js';
import type { GrpoStepMetrics } from '../../src/interfaces/metrics.js';
import type { Group, Policy, Sample, SampleOptions, SampleRequest, Tokenizer } from '../../src/interfaces/policy.js';
import type { Score, Scorer, ScoreRequest } from '../../src/interfaces/scorer.js';
import { grpoTrain, type GrpoLoopOptions } from '../../src/rl/grpo-trainer.js';
import type { GrpoConfig } from '../../src/rl/grpo.js';
import { RunDir } from '../../src/rl/run-dir.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-grpo-loop-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const GRPO: GrpoConfig = { epsilon: 0.2, beta: 0, klEstimator: 'k3', lossType: 'dapo', maxCompletionLength: 4, scaleRewards: 'group', eps: 1e-4, maskTruncatedCompletions: false, dropZeroStdGroups: true };
const examples: Example[] = Array.from({ length: 6 }, (_, i) => ({ id: `ex-${i}`, index: i, question: `q${i}`, dbId: 'db', dbPath: `/db/${i}.sqlite`, goldSql: `SELECT ${i}` }));

/** Completion k of any prompt is the text "k" (tokens [k]); it records what the loop asks of it. */
class FakePolicy implements Policy {
  readonly tokenizer = { encode: () => [], decode: () => '', applyChatTemplate: () => '', eosTokenIds: [0], vocabSize: 10 } as Tokenizer;
  backwards: { groups: Group[]; grads: Float32Array[][] }[] = [];
  steps = 0;
  async sample(requests: SampleRequest[], opts: SampleOptions): Promise<Sample[][]> {
    return requests.map((r) => Array.from({ length: r.n }, (_, k) => ({ tokens: [k, k], logprobs: Float32Array.of(-1, -1), entropy: Float32Array.of(0.5, 1.5), text: String(k), finishReason: opts.maxNewTokens > 2 ? ('eos' as const) : ('length' as const) })));
  }
  async logprobs(groups: Group[]): Promise<Float32Array[][]> {
    return groups.map((g) => g.completions.map((c) => new Float32Array(c.length).fill(-1)));
  }
  async backward(groups: Group[], grads: Float32Array[][]): Promise<Float32Array[][]> {
    this.backwards.push({ groups, grads });
    return groups.map((g) => g.completions.map((c) => new Float32Array(c.length).fill(-1)));
  }
  step(): number {
    this.steps++;
    return 1;
  }
  endUpdates = 0;
  endUpdate(): void {
    this.endUpdates++;
  }
  setLearningRate(): void {}
  async save(): Promise<void> {}
  async saveCheckpoint(): Promise<void> {}
  async loadCheckpoint(): Promise<void> {}
}

/** Reward = completion "k" → k for prompts 0-3 (informative groups), constant for the rest; "3" is an infrastructure failure. */
class FakeScorer implements Scorer {
  async score(items: ScoreRequest[]): Promise<Score[]> {
    return items.map((it): Score => {
      const k = Number(it.completion);
      const prompt = Number(it.goldSql.split(' ')[1]);
      if (k === 3) return { reward: 0, components: {}, status: 'infra_error', sql: null, excluded: true };
      return { reward: prompt < 4 ? k : 1, components: { execution: k }, status: k === 2 ? 'match' : 'mismatch', sql: it.goldSql };
    });
  }
}

/** The loop's options for the fakes: 2 prompts × 4 completions per step, one pass, no evaluation or checkpoints. */
function fakeLoop(run: RunDir, scorer: Scorer): GrpoLoopOptions<Score> {
  return {
    examples,
    promptOf: (ex) => [100 + ex.index],
    prefill: '',
    scorer,
    numGenerations: 4,
    batchSize: 2,
    sampling: { maxNewTokens: 4, temperature: 1 },
    numIterations: 1,
    gradientAccumulationSteps: 1,
    grpo: GRPO,
    dynamicSampling: false,
    maxSampleBatches: 1,
    learningRate: 1e-3,
    lrSchedule: 'constant',
    warmupSteps: 0,
    seed: 0,
    maxSteps: 1,
    evalEvery: 0,
    saveEvery: 0,
    run,
    logGroups: 0,
    sampleDetail: () => ({}),
  };
}

test('GRPO loop with fakes: completions with gradient go to backward, infrastructure failures are left out and counted, one step per iteration', async () => {
  const policy = new FakePolicy();
  const run = new RunDir(join(tmp, 'fake'));
  run.create({});
  const seen: GrpoStepMetrics[] = [];
  const state = await grpoTrain(policy, {
    ...fakeLoop(run, new FakeScorer()),
    gradientAccumulationSteps: 2,
    maxSteps: 3,
    logGroups: 1,
    sampleDetail: () => ({ extra: true }),
    onStep: (m) => seen.push(m),
  });
  assert.equal(state.step, 3);
  assert.equal(policy.steps, 3);
  assert.equal(policy.endUpdates, 3, 'each update ends by letting the policy drop what sampling kept for it');
  assert.equal(seen.length, 3);
  for (const m of seen) {
    // 2 groups × 1 excluded completion ("3")
    assert.equal(m.excluded, 2);
    assert.equal(m.groups, 2);
    // entropy: the mean of 0.5 and 1.5 over every token
    assert.equal(m.entropy, 1);
  }
  // with gradient accumulation 2, each step's two groups go to backward separately; in groups whose
  // rewards are 0,1,2 (k=3 excluded) every kept completion has a non-zero advantage; uniform groups none
  for (const b of policy.backwards) {
    assert.equal(b.groups.length, 1);
    for (const g of b.groups) assert.ok(g.completions.every((c) => c[0] !== 3), 'the excluded completion is not trained on');
  }
  const informative = seen.reduce((a, m) => a + m.groups - m.zero_std_groups, 0);
  assert.equal(policy.backwards.length, informative);
  const samples = readFileSync(run.samplesFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(samples.length, 3 * 4);
  assert.equal(samples[0]!.extra, true);
  assert.equal(samples.find((s) => s.completion === '3')!.advantage, 0);
});

test('GRPO loop with fakes: a step where no group has gradient takes no optimizer step but still ends its update (the policy drops what it kept)', async () => {
  const policy = new FakePolicy();
  const run = new RunDir(join(tmp, 'uniform'));
  run.create({});
  const uniform: Scorer = { score: async (items) => items.map((): Score => ({ reward: 1, components: { execution: 1 }, status: 'mismatch', sql: 'SELECT 1' })) };
  const state = await grpoTrain(policy, { ...fakeLoop(run, uniform), maxSteps: 2 });
  assert.equal(state.step, 2);
  assert.equal(policy.backwards.length, 0);
  assert.equal(policy.steps, 0);
  assert.equal(policy.endUpdates, 2);
});

test('learning: GRPO on a tiny model raises the mean reward of a simple verifiable task (tokens from the lower third of the vocabulary) within 30 steps, on average over three seeds', async () => {
  const dir = join(tmp, 'tiny');
  writeTinyModelDir(dir, 'llama', 3, { maxPositionEmbeddings: 64 });
  const gains: string[] = [];
  let sumFirst = 0;
  let sumLast = 0;
  for (const seed of [0, 1, 2]) {
    const policy = CpuPolicy.fromLoaded(loadHfDir(dir), { train: { kind: 'lora', lora: { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] } }, seed: 1, optimizer: { lr: 3e-2 } });
    // the task: write tokens of the lower third of the vocabulary (reward = their share of the completion)
    const textOf = new Map<string, number[]>();
    const scorer: Scorer = {
      async score(items) {
        return items.map((it) => {
          const toks = textOf.get(it.completion) ?? [];
          const r = toks.length ? toks.filter((t) => t < 100).length / toks.length : 0;
          return { reward: r, components: {}, status: 'mismatch', sql: null };
        });
      },
    };
    // the scorer sees texts; map them back to token ids through a wrapper around sample
    const sample = policy.sample.bind(policy);
    policy.sample = async (reqs, opts) => {
      const out = await sample(reqs, opts);
      for (const g of out) for (const s of g) textOf.set(s.text, s.tokens);
      return out;
    };
    const run = new RunDir(join(tmp, `learn-${seed}`));
    run.create({});
    const rewards: number[] = [];
    await grpoTrain(policy, {
      examples,
      promptOf: (ex) => [5, 17, 100 + ex.index],
      prefill: '',
      scorer,
      numGenerations: 8,
      batchSize: 4,
      sampling: { maxNewTokens: 6, temperature: 1 },
      numIterations: 1,
      gradientAccumulationSteps: 1,
      grpo: GRPO,
      dynamicSampling: false,
      maxSampleBatches: 1,
      learningRate: 3e-2,
      lrSchedule: 'constant',
      warmupSteps: 0,
      seed,
      maxSteps: 30,
      evalEvery: 0,
      saveEvery: 0,
      run,
      logGroups: 0,
      sampleDetail: () => ({}),
      onStep: (m) => rewards.push(m.reward_mean),
    });
    const first = rewards.slice(0, 5).reduce((a, b) => a + b, 0) / 5;
    const last = rewards.slice(-5).reduce((a, b) => a + b, 0) / 5;
    sumFirst += first;
    sumLast += last;
    gains.push(`seed ${seed}: ${first.toFixed(3)} → ${last.toFixed(3)}`);
  }
  console.log(`mean reward over the first 5 and the last 5 steps: ${gains.join('; ')}`);
  // one short run can stall (a small stochastic model); the average over three seeds must rise clearly
  assert.ok(sumLast / 3 > sumFirst / 3 + 0.15, gains.join('; '));
});
