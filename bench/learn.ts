// `npm run bench:learn` (long; not part of `npm run bench`): SFT then GRPO of SmolLM2-135M-Instruct (LoRA)
// on the built-in benchmark. Reports held-out greedy EX of: the base model, SFT only, SFT continued for the
// same extra wall time as GRPO took (control), and SFT + GRPO. Options via env: LEARN_SFT_STEPS,
// LEARN_GRPO_STEPS, LEARN_GRPO_BATCH (prompts per GRPO step, K = 8), LEARN_EVAL (held-out examples, a stride
// through the split). GRPO samples from the RL split (prompts SFT never saw), as the demo does.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSynth } from '../src/data/synth.js';
import { promptMessages } from '../src/data/prompt.js';
import { CpuPolicy } from '../src/engine/policy.js';
import { evaluateGenerator } from '../src/eval/generate-eval.js';
import { PolicyGenerator } from '../src/eval/native-generator.js';
import { extractSql } from '../src/reward/extract.js';
import { SftConfig, TrainConfig } from '../src/run/config.js';
import { runSft, runTrain } from '../src/run/train.js';
import { SqlExecutor } from '../src/sql/executor.js';
import { selfPeakMiB } from './lib/peak-rss.js';

const ROOT = resolve(import.meta.dirname, '..');
const MODEL = join(ROOT, '.cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
const OUT = join(ROOT, 'bench/out/learn');
const SFT_STEPS = Number(process.env.LEARN_SFT_STEPS ?? 40);
const GRPO_STEPS = Number(process.env.LEARN_GRPO_STEPS ?? 12);
const N_EVAL = Number(process.env.LEARN_EVAL ?? 60);
const GRPO_BATCH = Number(process.env.LEARN_GRPO_BATCH ?? 2);
const T_START = performance.now();
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// A stride through the held-out split, so every database (the unseen one included) is represented.
const allHeld = loadSynth('heldout');
const held = allHeld.filter((_, i) => i % Math.max(1, Math.floor(allHeld.length / N_EVAL)) === 0).slice(0, N_EVAL);
const executor = new SqlExecutor({ timeoutMs: 10_000 });
async function ex(adapter?: string): Promise<number> {
  const policy = await CpuPolicy.load(MODEL, adapter ? { adapterDir: adapter } : {});
  const r = await evaluateGenerator({ examples: held, generator: new PolicyGenerator(policy, 'x'), messages: (e) => promptMessages(e, { template: 'compact' }), extract: (c) => extractSql(c).sql, executor, mode: 'strict', maxTokens: 64 });
  return r.summary.execution_accuracy;
}
const common = { model: MODEL, dataset: 'builtin' as const, template: 'compact' as const, train: 'lora' as const, quiet: true, evalEvery: 0, saveEvery: 0, loraR: 16, loraAlpha: 32 };
const base = await ex();
let t = performance.now();
await runSft(SftConfig.parse({ ...common, output: join(OUT, 'sft'), maxSteps: SFT_STEPS, batchSize: 8, learningRate: 5e-4 }));
const sftS = (performance.now() - t) / 1000;
const sft = await ex(join(OUT, 'sft', 'final'));
t = performance.now();
await runTrain(TrainConfig.parse({ ...common, init: join(OUT, 'sft', 'final'), output: join(OUT, 'grpo'), split: 'rl', reward: 'arctic', rewardExtract: 'lenient', maxSteps: GRPO_STEPS, batchSize: GRPO_BATCH, numGenerations: 8, temperature: 1, maxCompletionLength: 64, learningRate: 2e-4, lrSchedule: 'constant', warmupRatio: 0 }));
const grpoS = (performance.now() - t) / 1000;
const grpo = await ex(join(OUT, 'grpo', 'final'));
// control: SFT from the SFT adapter for the same wall time GRPO used
const controlSteps = Math.max(1, Math.round((SFT_STEPS * grpoS) / sftS));
await runSft(SftConfig.parse({ ...common, init: join(OUT, 'sft', 'final'), output: join(OUT, 'control'), maxSteps: controlSteps, batchSize: 8, learningRate: 5e-4 }));
const control = await ex(join(OUT, 'control', 'final'));
await executor.close();
const lines = [
  `bench:learn — SmolLM2-135M-Instruct (Q4_1 GGUF → float32), LoRA r16, built-in benchmark, ${held.length} held-out questions, greedy, strict`,
  `  base model               EX ${(100 * base).toFixed(1)}%`,
  `  SFT (${SFT_STEPS} steps, ${sftS.toFixed(0)} s)    EX ${(100 * sft).toFixed(1)}%`,
  `  SFT + SFT control (${controlSteps} more steps, same time as GRPO)  EX ${(100 * control).toFixed(1)}%`,
  `  SFT + GRPO (${GRPO_STEPS} steps of ${GRPO_BATCH}×8, ${grpoS.toFixed(0)} s)  EX ${(100 * grpo).toFixed(1)}%`,
  `  total ${((performance.now() - T_START) / 60000).toFixed(1)} min, peak RSS ${selfPeakMiB().toFixed(0)} MiB (this process: model, LoRA training, evaluation; the SQL sandbox workers are separate processes, not included)`,
];
console.log(lines.join('\n'));
writeFileSync(join(ROOT, 'bench/out/learn.txt'), lines.join('\n') + '\n');
