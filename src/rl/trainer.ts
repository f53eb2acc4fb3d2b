// The training loops. GRPO: each step samples K completions for a batch of prompts, scores them in
// the sandbox, turns rewards into group-relative advantages, and updates the policy (num_iterations
// times) through the clipped objective; SFT: next-token loss on gold SQL. Both log metrics and samples,
// evaluate on a held-out split, checkpoint, and resume exactly after a crash (same data order, same
// sampling seeds, optimizer state restored).
import type { Example } from '../data/types.js';
import type { RewardResult, RewardScorer } from '../reward/scorer.js';
import type { SqlValue } from '../sql/types.js';
import { groupAdvantages, grpoLoss, type GrpoConfig, type GrpoSequence } from './grpo.js';
import type { Policy, Sample } from '../interfaces/policy.js';
import { exampleAt, RunDir, type TrainerState } from './run-dir.js';

export type LrSchedule = 'constant' | 'linear' | 'cosine';

export function lrAt(base: number, schedule: LrSchedule, step: number, total: number, warmup: number): number {
  if (step < warmup) return (base * step) / Math.max(1, warmup);
  if (schedule === 'constant') return base;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (schedule === 'linear') return base * Math.max(0, 1 - progress);
  return base * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

export interface LoopOptions {
  maxSteps: number;
  learningRate: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  seed: number;
  evalEvery: number;
  saveEvery: number;
  run: RunDir;
  /** Greedy execution accuracy on the held-out split (the CLI wires the evaluator). */
  evaluate?: (step: number) => Promise<{ ex: number; n: number; split: string; by_bucket?: Record<string, number> }>;
  onStep?: (step: number, metrics: Record<string, unknown>) => void;
  /** Stop early (tests, signals): checked between steps. */
  shouldStop?: () => boolean;
}

export interface GrpoLoopOptions extends LoopOptions {
  examples: Example[];
  /** Token ids of an example's prompt. */
  promptOf: (ex: Example) => number[];
  scorer: RewardScorer;
  numGenerations: number;
  batchSize: number;
  temperature: number;
  topP: number;
  maxCompletionLength: number;
  numIterations: number;
  grpo: GrpoConfig;
  /** Prompts per step whose K completions go to samples.jsonl. */
  logGroups: number;
  /** DAPO dynamic sampling: draw more prompts until the batch holds `batchSize` groups whose rewards differ. */
  dynamicSampling?: boolean;
  /** Batches of prompts drawn at most per step under dynamic sampling. */
  maxSampleBatches: number;
}

/** A group whose rewards differ: it carries a learning signal. */
const informative = (g: { results: { reward: number }[] }) => g.results.some((r) => r.reward !== g.results[0]!.reward);
/** The first `n` groups whose rewards differ, topped up in draw order with uniform ones when there are fewer. */
export function pickGroups<G extends { results: { reward: number }[] }>(groups: G[], n: number): G[] {
  return [...groups.filter(informative), ...groups.filter((g) => !informative(g))].slice(0, n);
}
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) * (x - m))));
};
const preview = (r: RewardResult['pred']): SqlValue[][] | null =>
  r?.kind === 'rows' ? r.rows.slice(0, 5).map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? `<blob ${v.byteLength}>` : v))) : null;

async function resume(policy: Policy, run: RunDir): Promise<TrainerState> {
  const ck = run.latestCheckpoint();
  if (!ck) return { step: 0, cursor: 0, elapsed: 0 };
  await policy.loadCheckpoint(ck.dir);
  run.truncateAfter(ck.state.step);
  return ck.state;
}

async function maybeEvalAndSave(policy: Policy, o: LoopOptions, state: TrainerState, t0: number): Promise<void> {
  const step = state.step;
  if (o.evaluate && o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.maxSteps)) {
    const ev = await o.evaluate(step);
    o.run.appendMetrics({ step, time: state.elapsed + (performance.now() - t0) / 1000, kind: 'eval', ...ev });
  }
  if (o.saveEvery > 0 && (step % o.saveEvery === 0 || step === o.maxSteps)) {
    await o.run.saveCheckpoint({ ...state, elapsed: state.elapsed + (performance.now() - t0) / 1000 }, (dir) => policy.saveCheckpoint(dir));
  }
}

export async function grpoTrain(policy: Policy, o: GrpoLoopOptions): Promise<TrainerState> {
  const state = await resume(policy, o.run);
  const t0 = performance.now() - 0;
  const orderCache = new Map<number, number[]>();
  const K = o.numGenerations;
  while (state.step < o.maxSteps && !o.shouldStop?.()) {
    const step = state.step + 1;
    policy.setLearningRate(lrAt(o.learningRate, o.lrSchedule, step - 1, o.maxSteps, o.warmupSteps));
    // 1. sample K completions per prompt (seeded by run seed, step and position: a resumed run draws the same)
    //    and 2. score them in the sandbox. With dynamic sampling (DAPO), further batches of prompts are drawn
    //    until the batch holds `batchSize` groups whose rewards differ (or `maxSampleBatches` were drawn).
    let secSampling = 0;
    let secRewards = 0;
    const sampled: { ex: Example; prompt: number[]; samples: Sample[]; results: RewardResult[] }[] = [];
    let drawn = 0;
    for (let round = 0; round < (o.dynamicSampling ? o.maxSampleBatches : 1); round++) {
      const batch = Array.from({ length: o.batchSize }, (_, i) => o.examples[exampleAt(state.cursor + drawn + i, o.examples.length, o.seed, orderCache)]!);
      let ts = performance.now();
      const prompts = batch.map((ex) => o.promptOf(ex));
      const samples: Sample[][] = [];
      for (let i = 0; i < batch.length; i++) {
        const seed = (o.seed * 1_000_003 + step * 1009 + drawn + i) >>> 0;
        samples.push(await policy.sample(prompts[i]!, K, { maxNewTokens: o.maxCompletionLength, temperature: o.temperature, topP: o.topP, seed }));
      }
      secSampling += (performance.now() - ts) / 1000;
      ts = performance.now();
      const results = await o.scorer.score(samples.flatMap((group, i) => group.map((smp) => ({ completion: smp.text, dbPath: batch[i]!.dbPath, goldSql: batch[i]!.goldSql }))));
      secRewards += (performance.now() - ts) / 1000;
      batch.forEach((ex, i) => sampled.push({ ex, prompt: prompts[i]!, samples: samples[i]!, results: results.slice(i * K, (i + 1) * K) }));
      drawn += o.batchSize;
      if (sampled.filter(informative).length >= o.batchSize) break;
    }
    // The groups trained on: all of them, or with dynamic sampling the first batchSize informative ones.
    const used = o.dynamicSampling ? pickGroups(sampled, o.batchSize) : sampled;
    const flat = used.flatMap((g, i) => g.samples.map((smp) => ({ s: smp, ex: g.ex, prompt: g.prompt, group: i })));
    const results = used.flatMap((g) => g.results);
    const allResults = sampled.flatMap((g) => g.results);
    // 3. advantages and the update
    const ts = performance.now();
    const rewards = results.map((r) => r.reward);
    const adv = groupAdvantages(rewards, K, o.grpo.scaleRewards, o.grpo.eps);
    const seqs = flat.map((f) => ({ prompt: f.prompt, completion: f.s.tokens }));
    const refLogp = o.grpo.beta > 0 ? await policy.logprobs(seqs, { adapter: false, temperature: o.temperature }) : null;
    let lossOut = null as ReturnType<typeof grpoLoss> | null;
    let gradNorm = 0;
    for (let it = 0; it < o.numIterations; it++) {
      // μ = 1: the current policy is the behaviour policy, its logprobs are the sampling-time ones
      const logp = it === 0 ? flat.map((f) => f.s.logprobs) : await policy.logprobs(seqs, { adapter: true, temperature: o.temperature });
      const gseqs: GrpoSequence[] = flat.map((f, j) => ({
        logp: logp[j]!,
        oldLogp: f.s.logprobs,
        ...(refLogp ? { refLogp: refLogp[j]! } : {}),
        advantage: adv.advantages[j]!,
        truncated: f.s.finishReason === 'length',
        zeroStdGroup: adv.zeroStd[f.group]!,
      }));
      lossOut = grpoLoss(gseqs, o.grpo);
      if (lossOut.metrics.sequences > 0) {
        // Sequences with no gradient (dropped zero-variance groups, masked truncations) skip the pass entirely.
        const live = seqs.flatMap((_, j) => (lossOut!.dLogprob[j]!.some((g) => g !== 0) ? [j] : []));
        await policy.backward(
          live.map((j) => seqs[j]!),
          live.map((j) => lossOut!.dLogprob[j]!),
          { temperature: o.temperature },
        );
        gradNorm = policy.step();
      }
    }
    const secUpdate = (performance.now() - ts) / 1000;
    let entropy: number | undefined;
    if (policy.entropy) {
      const first = flat[0]!;
      const ent = await policy.entropy({ prompt: first.prompt, completion: first.s.tokens }, o.temperature);
      entropy = mean(Array.from(ent));
    }
    const componentNames = [...new Set(allResults.flatMap((r) => Object.keys(r.components)))];
    const allRewards = allResults.map((r) => r.reward);
    state.step = step;
    state.cursor += drawn;
    const metrics = {
      step,
      time: state.elapsed + (performance.now() - t0) / 1000,
      kind: 'train',
      loss: lossOut?.loss ?? 0,
      reward_mean: mean(allRewards),
      reward_std: sd(allRewards),
      rewards: Object.fromEntries(componentNames.map((n) => [n, mean(allResults.map((r) => r.components[n] ?? 0))])),
      match_rate: mean(allResults.map((r) => (r.status === 'match' ? 1 : 0))),
      kl: lossOut?.metrics.kl ?? 0,
      clip_frac: lossOut?.metrics.clipFrac ?? 0,
      ...(entropy !== undefined ? { entropy } : {}),
      completion_len_mean: mean(flat.map((f) => f.s.tokens.length)),
      truncated_frac: mean(flat.map((f) => (f.s.finishReason === 'length' ? 1 : 0))),
      zero_std_groups: adv.zeroStd.filter(Boolean).length,
      groups: used.length,
      ...(o.dynamicSampling ? { sampled_groups: sampled.length, informative_groups: sampled.filter(informative).length } : {}),
      lr: lrAt(o.learningRate, o.lrSchedule, step - 1, o.maxSteps, o.warmupSteps),
      grad_norm: gradNorm,
      sec_sampling: secSampling,
      sec_rewards: secRewards,
      sec_update: secUpdate,
    };
    o.run.appendMetrics(metrics);
    o.run.appendSamples(
      flat
        .map((f, j) => ({ f, j }))
        .filter(({ f }) => f.group < o.logGroups)
        .map(({ f, j }) => {
          const r = results[j]!;
          return {
            step,
            example_id: f.ex.id,
            group: f.group,
            k: j % K,
            question: f.ex.question,
            db_id: f.ex.dbId,
            gold_sql: f.ex.goldSql,
            completion: f.s.text,
            sql: r.sql,
            status: r.status === 'gold_error' ? 'error' : r.status,
            reward: r.reward,
            components: r.components,
            advantage: adv.advantages[j],
            pred_preview: preview(r.pred),
            gold_preview: preview(r.gold),
            error: r.pred?.kind === 'error' ? r.pred.message : r.pred?.kind === 'timeout' ? 'timeout' : null,
          };
        }),
    );
    o.onStep?.(step, metrics);
    await maybeEvalAndSave(policy, o, state, t0);
  }
  state.elapsed += (performance.now() - t0) / 1000;
  return state;
}

export interface SftLoopOptions extends LoopOptions {
  examples: Example[];
  /** Prompt and target token ids of an example (target ends with the end-of-turn token). */
  pairOf: (ex: Example) => { prompt: number[]; target: number[] };
  batchSize: number;
}

/** Supervised fine-tuning: mean next-token loss over the batch's target tokens. */
export async function sftTrain(policy: Policy, o: SftLoopOptions): Promise<TrainerState> {
  const state = await resume(policy, o.run);
  const t0 = performance.now();
  const orderCache = new Map<number, number[]>();
  while (state.step < o.maxSteps && !o.shouldStop?.()) {
    const step = state.step + 1;
    const lr = lrAt(o.learningRate, o.lrSchedule, step - 1, o.maxSteps, o.warmupSteps);
    policy.setLearningRate(lr);
    const ts = performance.now();
    const batch = Array.from({ length: o.batchSize }, (_, i) => o.examples[exampleAt(state.cursor + i, o.examples.length, o.seed, orderCache)]!);
    const seqs = batch.map((ex) => {
      const p = o.pairOf(ex);
      return { prompt: p.prompt, completion: p.target };
    });
    const tokens = seqs.reduce((a, s) => a + s.completion.length, 0);
    // loss = −(1/N) Σ logp_t over all target tokens: d loss / d logp_t = −1/N
    const lps = await policy.backward(
      seqs,
      seqs.map((s) => new Float32Array(s.completion.length).fill(-1 / Math.max(1, tokens))),
      { temperature: 1 },
    );
    const loss = -lps.reduce((a, lp) => a + lp.reduce((b, x) => b + x, 0), 0) / Math.max(1, tokens);
    const gradNorm = policy.step();
    state.step = step;
    state.cursor += o.batchSize;
    const metrics = { step, time: state.elapsed + (performance.now() - t0) / 1000, kind: 'train', loss, lr, grad_norm: gradNorm, tokens, sec_update: (performance.now() - ts) / 1000 };
    o.run.appendMetrics(metrics);
    o.onStep?.(step, metrics);
    await maybeEvalAndSave(policy, o, state, t0);
  }
  state.elapsed += (performance.now() - t0) / 1000;
  return state;
}
