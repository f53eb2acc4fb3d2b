// `npm run bench:grpo-step` — one GRPO step on real Spider prompts with SmolLM2-135M-Instruct (the Q4_1
// GGUF of scripts/fetch-test-model.sh): the first two prompts of the trainer's data order (Spider train,
// seed 0, `plain` template, full prompts), K = 8 completions of up to 64 tokens, LoRA r16 on all seven
// projections, beta 0. Every group must carry gradient, so the reward is a cheap text property with
// variance (distinct characters of the completion) instead of execution, which the base model fails
// uniformly; the GRPO math (advantages, clipped objective) is the trainer's own.
//
// Each path runs in its own process (so each peak RSS is its own): the grouped engine (each prompt
// computed once per group, reused from sampling), and the per-sequence path (every completion with its
// own prompt pass, what the engine did before; CpuPolicy's `perSequence`), and TRL's GRPOTrainer on the
// same step and weights (skip with BENCH_TRL=0; the per-sequence path with BENCH_PER_SEQUENCE=0).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset } from '../src/data/datasets.js';
import { promptMessages } from '../src/data/prompt.js';
import { blasDescription } from '../src/engine/blas.js';
import { loadModel } from '../src/engine/io/load.js';
import { saveHfModel } from '../src/engine/io/save.js';
import { CausalLM } from '../src/engine/model.js';
import { CpuPolicy } from '../src/engine/policy.js';
import type { ModelConfig } from '../src/engine/config.js';
import type { Group } from '../src/interfaces/policy.js';
import { groupAdvantages, grpoLoss } from '../src/rl/grpo.js';
import { exampleAt } from '../src/rl/run-dir.js';
import { rawSgemmGflops } from './lib/gemm.js';
import { measured, selfPeakMiB } from './lib/peak-rss.js';
import { referencePython } from './lib/venv.js';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench/out');
const GGUF = join(ROOT, '.cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
const SPIDER = resolve(ROOT, '../shared/data/spider');
const SMOL_F32 = join(ROOT, '.cache/models/smollm2-f32');
const K = 8;
const MAX_NEW = 64;
const PROMPTS = 2;

/** The step's prompts: the first PROMPTS of the trainer's seeded order over runnable Spider train examples. */
function stepExamples() {
  const all = loadDataset({ dataset: 'spider', dataDir: SPIDER, split: 'train' }).filter((e) => existsSync(e.dbPath));
  const cache = new Map<number, number[]>();
  return Array.from({ length: PROMPTS }, (_, i) => all[exampleAt(i, all.length, 0, cache)]!);
}

/**
 * The step's arithmetic in GFLOP (2 per multiply-add), counted from the model's shapes and the step's
 * token counts, for an exact implementation that computes each prompt once per group: sampling (prefill
 * of the prompts, decode of the completions with the LM head), the update's backward (inputs' gradients
 * through every linear, the LoRA gradients, attention's backward as twice its forward, the LM head), and
 * what the update recomputes because the activations are not kept within the memory bound (every
 * layer's forward but its down projection, the LM head's logits).
 */
function stepGflop(c: ModelConfig, r: number, prompts: number[], completions: number[][]) {
  const C = c.hiddenSize, I = c.intermediateSize, L = c.numLayers, d = c.headDim;
  const Hd = c.numHeads * d, Gd = c.numKvHeads * d;
  const qkvo = C * (Hd + 2 * Gd) + Hd * C;
  const mlp = 3 * C * I;
  const lora = r * (C + Hd + 2 * (C + Gd) + Hd + C + 3 * (C + I));
  const P = prompts.reduce((a, p) => a + p, 0);
  const N = completions.flat().reduce((a, n) => a + n, 0);
  // multiply-adds of attention's forward (Q·Kᵀ and P·V) for a query row that sees v keys: 2·v·d per head
  let keys = 0;
  prompts.forEach((p, i) => {
    keys += (p * (p + 1)) / 2;
    for (const n of completions[i]!) keys += n * p + (n * (n + 1)) / 2;
  });
  const attn = 2 * keys * d * c.numHeads * L;
  const head = C * c.vocabSize * N;
  const rows = (P + N) * L;
  const gf = (macs: number) => (2 * macs) / 1e9;
  const sampling = gf((qkvo + mlp + lora) * rows + attn + head);
  const backward = gf((qkvo + mlp + 2 * lora) * rows + 2 * attn + head);
  const recompute = gf((qkvo + (2 / 3) * mlp + lora) * rows + attn + head);
  return { sampling, backward, recompute };
}

async function child(path: 'grouped' | 'per-sequence'): Promise<void> {
  const policy = await CpuPolicy.load(GGUF, {
    train: { kind: 'lora', lora: { r: 16, alpha: 32, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] } },
    maxPositions: 4096,
    perSequence: path === 'per-sequence',
    optimizer: { lr: 1e-5 },
  });
  const prompts = stepExamples().map((e) => policy.tokenizer.encode(policy.tokenizer.applyChatTemplate(promptMessages(e, { template: 'plain' }), { addGenerationPrompt: true })));
  let t = performance.now();
  const samples = await policy.sample(
    prompts.map((prompt, i) => ({ prompt, n: K, seed: 1 + i })),
    { maxNewTokens: MAX_NEW, temperature: 1, forUpdate: true },
  );
  const sampling = (performance.now() - t) / 1000;
  const rewards = samples.flatMap((g) => g.map((s) => new Set(s.text).size));
  const adv = groupAdvantages(rewards, K, 'group');
  const flat = samples.flat();
  const loss = grpoLoss(
    flat.map((s, j) => ({ logp: s.logprobs, oldLogp: s.logprobs, advantage: adv.advantages[j]!, truncated: s.finishReason === 'length', zeroStdGroup: adv.zeroStd[Math.floor(j / K)]! })),
    { epsilon: 0.2, beta: 0, klEstimator: 'k3', lossType: 'dapo', maxCompletionLength: MAX_NEW, scaleRewards: 'group', eps: 1e-4, maskTruncatedCompletions: false, dropZeroStdGroups: true },
  );
  const groups: Group[] = prompts.map((prompt, i) => ({ prompt, completions: samples[i]!.map((s) => s.tokens) }));
  const dLogprob = groups.map((_, i) => loss.dLogprob.slice(i * K, (i + 1) * K));
  // logprobs: one scoring pass under the sampling weights (what beta > 0 or num_iterations > 1 adds; the
  // prompts are reused, the completions computed through every layer): its values check the engine's
  // batched forward against the decode that sampled
  t = performance.now();
  const scored = await policy.logprobs(groups, { temperature: 1 });
  const logprobs = (performance.now() - t) / 1000;
  t = performance.now();
  await policy.backward(groups, dLogprob, { temperature: 1 });
  policy.step();
  const update = (performance.now() - t) / 1000;
  let drift = 0;
  scored.flat().forEach((l, j) => l.forEach((v, i) => (drift = Math.max(drift, Math.abs(v - flat[j]!.logprobs[i]!)))));
  const completionTokens = flat.reduce((a, s) => a + s.tokens.length, 0);
  const work = stepGflop(policy.config, 16, prompts.map((p) => p.length), samples.map((g) => g.map((s) => s.tokens.length)));
  const promptTokens = prompts.reduce((a, p) => a + p.length, 0);
  console.log(
    JSON.stringify({
      path,
      promptTokens: prompts.map((p) => p.length),
      completionTokens,
      informativeGroups: adv.zeroStd.filter((z) => !z).length,
      sampling,
      update,
      logprobs,
      samplingTokS: completionTokens / sampling,
      updateTokS: (promptTokens * (path === 'grouped' ? 1 : K) + completionTokens) / update,
      maxSampleVsTrainLogprobDiff: drift,
      work,
      peakMiB: selfPeakMiB(),
      blas: blasDescription(),
    }),
  );
}

interface Result {
  path: string;
  promptTokens: number[];
  completionTokens: number;
  informativeGroups: number;
  sampling: number;
  update: number;
  logprobs: number;
  samplingTokS: number;
  updateTokS: number;
  maxSampleVsTrainLogprobDiff: number;
  work: ReturnType<typeof stepGflop>;
  peakMiB: number;
  blas: string;
}

function runPath(path: string): Result & { measuredPeakMiB: number } {
  const r = measured(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/grpo-step.ts'), '--child', path], { cwd: ROOT });
  if (r.status !== 0) throw new Error(`${path} path failed: ${r.stderr.slice(-2000)}`);
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Result), measuredPeakMiB: r.peakMiB };
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--child');
  if (at >= 0) return child(process.argv[at + 1] as 'grouped' | 'per-sequence');
  if (!existsSync(GGUF)) throw new Error('test model missing: bash scripts/fetch-test-model.sh');
  if (!existsSync(join(SPIDER, 'train_spider.json'))) throw new Error(`Spider train set missing at ${SPIDER}`);
  mkdirSync(OUT, { recursive: true });
  const lines: string[] = [];
  const log = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  log(`bench:grpo-step — SmolLM2-135M-Instruct (Q4_1 → f32), Spider train, plain template, ${PROMPTS} prompts × K=${K} × ≤${MAX_NEW} tokens, LoRA r16 (7 projections), beta 0`);
  const grouped = runPath('grouped');
  log(`  ${grouped.blas}`);
  log(`  prompt tokens ${grouped.promptTokens.join(' + ')}, completion tokens ${grouped.completionTokens}, informative groups ${grouped.informativeGroups}/${PROMPTS}`);
  const skipPer = process.env.BENCH_PER_SEQUENCE === '0';
  const per = skipPer ? null : runPath('per-sequence');
  const row = (name: string, r: Result & { measuredPeakMiB: number }) =>
    log(`  ${name.padEnd(14)} ${(r.sampling + r.update).toFixed(1).padStart(7)} s ${r.sampling.toFixed(1).padStart(9)} s ${r.update.toFixed(1).padStart(8)} s ${r.logprobs.toFixed(1).padStart(9)} s ${r.samplingTokS.toFixed(0).padStart(10)} ${r.updateTokS.toFixed(0).padStart(10)} ${r.measuredPeakMiB.toFixed(0).padStart(9)} MiB`);
  log(`  path             step    sampling     update  logprobs*  sample t/s update t/s   peak RSS`);
  row('grouped', grouped);
  if (per) {
    row('per-sequence', per);
    log(`  per-sequence ÷ grouped: step ${((per.sampling + per.update) / (grouped.sampling + grouped.update)).toFixed(2)}×, update ${(per.update / grouped.update).toFixed(2)}×, sampling ${(per.sampling / grouped.sampling).toFixed(2)}×`);
  }
  log(`  * logprobs: one extra scoring pass over the step's groups under the sampling weights (what num_iterations > 1 or beta > 0 adds), not part of this step`);
  log(`  sampled vs rescored logprobs (the batched forward against the decode): max |Δ| ${grouped.maxSampleVsTrainLogprobDiff.toExponential(2)}`);
  // the arithmetic against this machine's raw sgemm (measured now, in this process, between the children)
  const raw = rawSgemmGflops();
  const { sampling: ws, backward: wb, recompute: wr } = grouped.work;
  const step = grouped.sampling + grouped.update;
  log(`  arithmetic of the step: sampling ${ws.toFixed(0)} GFLOP, update ${(wb + wr).toFixed(0)} GFLOP (backward ${wb.toFixed(0)} + recomputed under the memory bound ${wr.toFixed(0)}); raw sgemm in this run ${raw.toFixed(0)} GFLOP/s`);
  log(`  → at the raw sgemm rate throughout the step would take ${((ws + wb + wr) / raw).toFixed(1)} s (${((ws + wb) / raw).toFixed(1)} s without the recomputation); it ran at ${((100 * (ws + wb + wr)) / raw / step).toFixed(0)}% of that rate (sampling ${((100 * ws) / raw / grouped.sampling).toFixed(0)}%, update ${((100 * (wb + wr)) / raw / grouped.update).toFixed(0)}%)`);
  log(`  goal: ≤ 20 s per step, ≤ 2048 MiB peak RSS → ${grouped.sampling + grouped.update <= 20 ? 'met' : 'NOT met'} (${(grouped.sampling + grouped.update).toFixed(1)} s), ${grouped.measuredPeakMiB <= 2048 ? 'met' : 'NOT met'} (${grouped.measuredPeakMiB.toFixed(0)} MiB)`);
  if (!existsSync(join(SMOL_F32, 'model.safetensors'))) {
    const l = await loadModel(GGUF);
    saveHfModel(SMOL_F32, new CausalLM(l.config, l.weights), l.tokenizer);
  }
  const trl = trlStep();
  if (trl) log(trl(grouped.sampling + grouped.update));
  writeFileSync(join(OUT, 'grpo-step.txt'), lines.join('\n') + '\n');
}

/** TRL's GRPOTrainer on the same step (same weights in float32, prompts, K, lengths, LoRA), when the reference venv can be made. */
function trlStep(): ((ours: number) => string) | null {
  if (process.env.BENCH_TRL === '0') return null;
  const ref = referencePython();
  if ('skipped' in ref) return () => `  TRL: skipped (${ref.skipped})`;
  const req = join(OUT, 'trl-step.json');
  writeFileSync(req, JSON.stringify({ model: SMOL_F32, prompts: stepExamples().map((e) => promptMessages(e, { template: 'plain' })), k: K, max_new: MAX_NEW }));
  const r = measured(ref.python, [join(ROOT, 'bench/ref/trl_grpo_step.py'), req], { cwd: ROOT, env: { ...process.env, OMP_NUM_THREADS: '2', MKL_NUM_THREADS: '2' } });
  if (r.status !== 0) return () => `  TRL: failed (${r.stderr.trim().split('\n').slice(-1)[0]})`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { step_s: number; trl: string; torch: string };
  return (ours) => `  TRL ${out.trl} GRPOTrainer (torch ${out.torch}, 2 threads), same step: ${out.step_s.toFixed(1)} s, peak RSS ${r.peakMiB.toFixed(0)} MiB → TRL ÷ sqlrl ${(out.step_s / ours).toFixed(1)}×`;
}

await main();
