// `npm run bench:spider` (long: about 1 h 50 min on 2 cores with the defaults; not part of `npm run bench`) — does GRPO with
// execution rewards improve a pretrained model on real text-to-SQL beyond what the same compute spent on
// more supervised fine-tuning gives? SmolLM2-135M-Instruct (the Q4_1 GGUF of scripts/fetch-test-model.sh,
// float32 in the engine), Spider, the compact schema prompt (schema lines, bare SQL answers):
//   0. the base model, evaluated;
//   1. SFT, every weight, on Spider train;
//   2. a short reward ablation from the SFT model: a few GRPO steps with each candidate reward (arctic,
//      and a partial-credit composition), the one whose groups more often carry signal is used;
//   3. GRPO from the SFT model (LoRA r16, DAPO dynamic sampling);
//   4. the control: SFT from the SFT model (the same LoRA) for GRPO's wall-clock time;
//   5. evaluation of each model on Spider dev questions: greedy EX and self-consistency@8 (vote by
//      execution result), by hardness; the paired bootstrap 95% interval of SFT+GRPO vs the control.
//      By default the first 400 of the 972 runnable questions (dataset order, 7 databases): with SC@8 an
//      evaluation costs about 1.8 s per question on 2 cores (~29 min per model for all 972), and four of
//      them at 972 would take the two hours alone. SPIDER_EVAL_LIMIT=0 evaluates all 972 (about 3 hours
//      in total);
//   6. the final adapter loaded by PEFT on the same base weights: the same greedy predictions on 20 questions.
// Each phase's output is kept in bench/out/spider/ (SPIDER_OUT), and a re-run skips finished phases. The
// runs show on a live dashboard while they train (its address is printed).
//
// Sizes (environment): SPIDER_SFT_STEPS, SPIDER_SFT_BATCH, SPIDER_SFT_LR, SPIDER_GRPO_STEPS,
// SPIDER_GRPO_BATCH, SPIDER_K, SPIDER_GRPO_LR, SPIDER_ABLATION_STEPS (0: no ablation), SPIDER_REWARD
// (skip the ablation), SPIDER_EVAL_LIMIT, SPIDER_SC_N, SPIDER_MAX_TOKENS, SPIDER_PEFT (0: skip the check).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset } from '../src/data/datasets.js';
import { promptMessages } from '../src/data/prompt.js';
import type { Example } from '../src/data/types.js';
import { CpuPolicy } from '../src/engine/policy.js';
import { evaluateGenerator, type GenerateEvalReport } from '../src/eval/generate-eval.js';
import { comparisonHtml } from '../src/eval/html-report.js';
import { PolicyGenerator } from '../src/eval/native-generator.js';
import { compareRuns, pairReports, type ComparedExample } from '../src/eval/run-compare.js';
import type { GrpoStepMetrics } from '../src/interfaces/metrics.js';
import { extractSql } from '../src/reward/extract.js';
import { SftConfig, TrainConfig } from '../src/run/config.js';
import { runSft, runTrain } from '../src/run/train.js';
import { SqlExecutor } from '../src/sql/executor.js';
import { selfPeakMiB } from './lib/peak-rss.js';
import { referencePython } from './lib/venv.js';

const ROOT = resolve(import.meta.dirname, '..');
const GGUF = join(ROOT, '.cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
const SPIDER = resolve(ROOT, '../shared/data/spider');
const OUT = resolve(process.env.SPIDER_OUT ?? join(ROOT, 'bench/out/spider'));
const env = (name: string, dflt: number) => (process.env[name] !== undefined ? Number(process.env[name]) : dflt);
const SIZES = {
  sftSteps: env('SPIDER_SFT_STEPS', 70),
  sftBatch: env('SPIDER_SFT_BATCH', 16),
  sftLr: env('SPIDER_SFT_LR', 1e-4),
  grpoSteps: env('SPIDER_GRPO_STEPS', 16),
  grpoBatch: env('SPIDER_GRPO_BATCH', 4),
  k: env('SPIDER_K', 8),
  grpoLr: env('SPIDER_GRPO_LR', 5e-5),
  ablationSteps: env('SPIDER_ABLATION_STEPS', 2),
  evalLimit: env('SPIDER_EVAL_LIMIT', 400),
  scN: env('SPIDER_SC_N', 8),
  maxTokens: env('SPIDER_MAX_TOKENS', 64),
};
const TEMPLATE = 'compact' as const;
/** Candidate rewards of the ablation: Arctic's (1 match / 0.1 runs / 0), and seed 000's partial credit (match + 0.3 × SQL-component Jaccard when wrong). */
const CANDIDATES = ['arctic', 'seed-000'] as const;
const T0 = performance.now();
const phases: Record<string, number> = {};
const say = (s: string) => process.stderr.write(`bench:spider: ${s}\n`);
const minutes = (ms: number) => ms / 60000;

async function phase<T>(name: string, done: () => boolean, run: () => Promise<T>): Promise<void> {
  if (done()) {
    say(`${name}: done before (${OUT}); skipped`);
    return;
  }
  const t = performance.now();
  say(`${name}: starting (${minutes(t - T0).toFixed(1)} min into the run)`);
  await run();
  phases[name] = minutes(performance.now() - t);
  say(`${name}: ${phases[name]!.toFixed(1)} min`);
}

const common = { dataset: 'spider' as const, dataDir: SPIDER, template: TEMPLATE, quiet: false };

let runnableDev = 0;
/** Runnable dev examples in dataset order (wta_1's database is absent). */
function devExamples(): Example[] {
  const all = loadDataset({ dataset: 'spider', dataDir: SPIDER, split: 'dev' }).filter((e) => existsSync(e.dbPath));
  runnableDev = all.length;
  return SIZES.evalLimit > 0 ? all.slice(0, SIZES.evalLimit) : all;
}

async function evaluate(label: string, model: string, adapter: string | null, examples: Example[], executor: SqlExecutor): Promise<GenerateEvalReport> {
  const file = join(OUT, `eval-${label}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as GenerateEvalReport;
  const policy = await CpuPolicy.load(model, adapter ? { adapterDir: adapter } : {});
  let last = 0;
  const report = await evaluateGenerator({
    examples,
    generator: new PolicyGenerator(policy, label),
    messages: (ex) => promptMessages(ex, { template: TEMPLATE }),
    extract: (c) => extractSql(c).sql,
    executor,
    mode: 'spider',
    maxTokens: SIZES.maxTokens,
    // a compact answer is one line of SQL (Spider's gold queries have no line breaks): the same stop for every model
    stop: ['\n'],
    n: SIZES.scN,
    temperature: 0.8,
    cacheFile: join(OUT, `gen-${label}.jsonl`),
    onProgress: (p, d, total) => {
      if (p === 'judge' || d - last < Math.max(8, total / 20)) return;
      last = d;
      say(`  ${label}: ${p} ${d}/${total}`);
    },
  });
  writeFileSync(file, JSON.stringify(report));
  return report;
}

/** Share of groups whose rewards differ, and the mean reward, over a run's train steps. */
function signalOf(dir: string): { informative: number; reward: number; steps: number } {
  const m = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as GrpoStepMetrics)
    .filter((x) => x.kind === 'train');
  const groups = m.reduce((a, x) => a + x.groups, 0);
  const zero = m.reduce((a, x) => a + x.zero_std_groups, 0);
  return { informative: groups ? (groups - zero) / groups : 0, reward: m.reduce((a, x) => a + x.reward_mean, 0) / Math.max(1, m.length), steps: m.length };
}

function grpoConfig(reward: string, output: string, steps: number, dynamic: boolean) {
  return TrainConfig.parse({
    ...common,
    model: join(OUT, 'sft', 'final'),
    output,
    reward,
    // the compact prompt asks for bare SQL
    rewardExtract: 'lenient',
    train: 'lora',
    loraR: 16,
    loraAlpha: 32,
    numGenerations: SIZES.k,
    batchSize: SIZES.grpoBatch,
    maxSteps: steps,
    maxCompletionLength: SIZES.maxTokens,
    temperature: 1,
    learningRate: SIZES.grpoLr,
    lrSchedule: 'constant',
    warmupRatio: 0,
    beta: 0,
    lossType: 'dapo',
    dynamicSampling: dynamic,
    maxSampleBatches: 2,
    maxPromptLength: 1200,
    longPrompts: 'drop',
    evalEvery: 0,
    saveEvery: 5,
    seed: 0,
    resume: existsSync(join(output, 'config.json')),
  });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const pts = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

async function main(): Promise<void> {
  if (!existsSync(GGUF)) throw new Error('test model missing: bash scripts/fetch-test-model.sh');
  if (!existsSync(join(SPIDER, 'train_spider.json'))) throw new Error(`Spider missing at ${SPIDER}`);
  mkdirSync(OUT, { recursive: true });
  say(`sizes ${JSON.stringify(SIZES)}; output ${OUT}`);
  const { startDashboard } = await import('../src/serve/dashboard/server.js');
  const dash = await startDashboard({ runDirs: ['sft', 'ablation-arctic', 'ablation-seed-000', 'grpo', 'control'].map((d) => join(OUT, d)), host: '127.0.0.1', port: env('SPIDER_DASHBOARD_PORT', 0), pollMs: 2000 });
  say(`dashboard: ${dash.url}`);
  const executor = new SqlExecutor({ timeoutMs: 10_000 });
  const dev = devExamples();
  const reports: Record<string, GenerateEvalReport> = {};
  try {
    await phase('base evaluation', () => existsSync(join(OUT, 'eval-base.json')), async () => {
      reports.base = await evaluate('base', GGUF, null, dev, executor);
    });
    await phase('SFT', () => existsSync(join(OUT, 'sft', 'report.json')), () =>
      runSft(
        SftConfig.parse({
          ...common,
          model: GGUF,
          output: join(OUT, 'sft'),
          train: 'full',
          batchSize: SIZES.sftBatch,
          maxSteps: SIZES.sftSteps,
          learningRate: SIZES.sftLr,
          lrSchedule: 'cosine',
          warmupRatio: 0.05,
          gradientCheckpointing: 'off',
          maxPromptLength: 1200,
          longPrompts: 'drop',
          evalEvery: 0,
          saveEvery: 20,
          seed: 0,
          resume: existsSync(join(OUT, 'sft', 'config.json')),
        }),
      ),
    );
    // 2. reward ablation
    let reward = process.env.SPIDER_REWARD ?? '';
    const ablation: Record<string, ReturnType<typeof signalOf>> = {};
    if (!reward && SIZES.ablationSteps > 0) {
      for (const r of CANDIDATES) {
        const dir = join(OUT, `ablation-${r}`);
        await phase(`ablation ${r}`, () => existsSync(join(dir, 'report.json')), () => runTrain(grpoConfig(r, dir, SIZES.ablationSteps, false)));
        ablation[r] = signalOf(dir);
      }
      reward = [...CANDIDATES].sort((a, b) => ablation[b]!.informative - ablation[a]!.informative)[0]!;
      say(`reward ablation: ${CANDIDATES.map((r) => `${r}: ${pct(ablation[r]!.informative)} informative groups, mean reward ${ablation[r]!.reward.toFixed(3)}`).join('; ')} → ${reward}`);
    }
    reward ||= 'arctic';
    // 3. GRPO, then 4. the control for the same wall time
    await phase('GRPO', () => existsSync(join(OUT, 'grpo', 'report.json')), () => runTrain(grpoConfig(reward, join(OUT, 'grpo'), SIZES.grpoSteps, true)));
    const grpoReport = JSON.parse(readFileSync(join(OUT, 'grpo', 'report.json'), 'utf8')) as { seconds: number; steps: number };
    await phase('control', () => existsSync(join(OUT, 'control', 'report.json')), () =>
      runSft(
        SftConfig.parse({
          ...common,
          model: join(OUT, 'sft', 'final'),
          output: join(OUT, 'control'),
          train: 'lora',
          loraR: 16,
          loraAlpha: 32,
          batchSize: SIZES.sftBatch,
          maxSteps: 100000,
          maxMinutes: grpoReport.seconds / 60,
          learningRate: SIZES.grpoLr,
          lrSchedule: 'constant',
          warmupRatio: 0,
          gradientCheckpointing: 'off',
          maxPromptLength: 1200,
          longPrompts: 'drop',
          evalEvery: 0,
          saveEvery: 20,
          // other examples than the SFT phase saw first
          seed: 1,
          resume: existsSync(join(OUT, 'control', 'config.json')),
        }),
      ),
    );
    const controlReport = JSON.parse(readFileSync(join(OUT, 'control', 'report.json'), 'utf8')) as { seconds: number; steps: number };
    // 5. evaluation
    const sftModel = join(OUT, 'sft', 'final');
    for (const [label, adapter] of [
      ['sft', null],
      ['control', join(OUT, 'control', 'final')],
      ['grpo', join(OUT, 'grpo', 'final')],
    ] as const)
      await phase(`${label} evaluation`, () => existsSync(join(OUT, `eval-${label}.json`)), async () => {
        reports[label] = await evaluate(label, sftModel, adapter, dev, executor);
      });
    for (const label of ['base', 'sft', 'control', 'grpo']) reports[label] ??= JSON.parse(readFileSync(join(OUT, `eval-${label}.json`), 'utf8')) as GenerateEvalReport;
    // every figure over the questions evaluated this time (a report kept from a run with more is cut to them)
    const asked = new Set(dev.map((e) => e.index));
    for (const label of ['base', 'sft', 'control', 'grpo']) reports[label]!.examples = reports[label]!.examples.filter((e) => asked.has(e.index));
    // the comparison: greedy, and self-consistency (each example's vote)
    const greedyPairs = pairReports(reports.control!.examples, reports.grpo!.examples, 'hardness');
    const greedy = compareRuns(greedyPairs, 0);
    const votePairs: ComparedExample[] = reports.control!.examples.map((e, i) => ({ index: e.index, bucket: e.hardness ?? 'all', a: e.vote_status === 'match', b: reports.grpo!.examples[i]!.vote_status === 'match' }));
    const vote = compareRuns(votePairs, 0);
    writeFileSync(join(OUT, 'report.html'), comparisonHtml({ a: 'SFT + SFT control', b: 'SFT + GRPO', overall: greedy.overall, byBucket: greedy.byBucket, examples: greedyPairs }));
    // 6. PEFT check
    const peft = process.env.SPIDER_PEFT === '0' ? { skipped: 'SPIDER_PEFT=0' } : await peftCheck(dev.slice(0, 20));
    const hardness = ['easy', 'medium', 'hard', 'extra'];
    const exOf = (r: GenerateEvalReport, vote: boolean, h?: string) => {
      const xs = r.examples.filter((e) => e.status !== 'db_missing' && (!h || e.hardness === h));
      return xs.length ? xs.filter((e) => (vote ? e.vote_status === 'match' : e.status === 'match')).length / xs.length : 0;
    };
    const row = (label: string, r: GenerateEvalReport) => {
      const byH = (vote: boolean) => hardness.map((h) => pct(exOf(r, vote, h)).padStart(7));
      return [`  ${label.padEnd(18)} greedy ${pct(exOf(r, false)).padStart(6)}  SC@${SIZES.scN} ${pct(exOf(r, true)).padStart(6)}   greedy by hardness ${byH(false).join('')}   SC by hardness ${byH(true).join('')}`];
    };
    const lines = [
      `bench:spider — SmolLM2-135M-Instruct, Spider, compact prompt, ${dev.length === runnableDev ? `all ${dev.length} runnable` : `the first ${dev.length} (dataset order; SPIDER_EVAL_LIMIT) of the ${runnableDev} runnable`} dev questions (EX, spider comparison), T=0.8 for SC@${SIZES.scN}, max ${SIZES.maxTokens} tokens`,
      `  sizes: ${JSON.stringify(SIZES)}; reward ${reward}${Object.keys(ablation).length ? ` (ablation: ${CANDIDATES.map((r) => `${r} ${pct(ablation[r]!.informative)} informative groups, mean reward ${ablation[r]!.reward.toFixed(3)}`).join('; ')})` : ''}`,
      `  GRPO ${grpoReport.steps} steps in ${(grpoReport.seconds / 60).toFixed(1)} min; control ${controlReport.steps} SFT steps in ${(controlReport.seconds / 60).toFixed(1)} min`,
      `  model              ${''.padEnd(33)}(easy / medium / hard / extra)`,
      ...row('base', reports.base!),
      ...row('SFT', reports.sft!),
      ...row('SFT + control', reports.control!),
      ...row('SFT + GRPO', reports.grpo!),
      `  SFT + GRPO vs SFT + control, greedy: ${pts(greedy.overall.delta)} points (95% CI ${pts(greedy.overall.ci95[0])} .. ${pts(greedy.overall.ci95[1])}); fixed ${greedy.overall.fixed}, broken ${greedy.overall.broken}`,
      `  SFT + GRPO vs SFT + control, SC@${SIZES.scN}: ${pts(vote.overall.delta)} points (95% CI ${pts(vote.overall.ci95[0])} .. ${pts(vote.overall.ci95[1])}); fixed ${vote.overall.fixed}, broken ${vote.overall.broken}`,
      `  by hardness (greedy): ${Object.entries(greedy.byBucket).map(([h, d]) => `${h} ${pts(d.delta)} (${pts(d.ci95[0])} .. ${pts(d.ci95[1])})`).join('; ')}`,
      `  PEFT check: ${'skipped' in peft ? `skipped (${peft.skipped})` : `${peft.same} of ${peft.n} greedy predictions identical to sqlrl's`}`,
      `  wall time by phase (min): ${Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('; ')}; total ${minutes(performance.now() - T0).toFixed(1)}; peak RSS of this process ${selfPeakMiB().toFixed(0)} MiB`,
      `  files: ${OUT}/eval-*.json (sqlrl eval reports; sqlrl compare ${join(OUT, 'eval-control.json')} ${join(OUT, 'eval-grpo.json')}), report.html, report.json; adapters ${join(OUT, 'grpo', 'final')}, ${join(OUT, 'control', 'final')} on ${sftModel}`,
    ];
    console.log(lines.join('\n'));
    writeFileSync(join(OUT, 'summary.txt'), lines.join('\n') + '\n');
    writeFileSync(
      join(OUT, 'report.json'),
      JSON.stringify(
        {
          sizes: SIZES,
          reward,
          ablation,
          questions: dev.length,
          ex: Object.fromEntries(Object.entries(reports).map(([k, r]) => [k, { greedy: exOf(r, false), sc: exOf(r, true), greedy_by_hardness: Object.fromEntries(hardness.map((h) => [h, exOf(r, false, h)])), sc_by_hardness: Object.fromEntries(hardness.map((h) => [h, exOf(r, true, h)])) }])),
          grpo_vs_control: { greedy: greedy.overall, greedy_by_hardness: greedy.byBucket, sc: vote.overall, sc_by_hardness: vote.byBucket },
          grpo: grpoReport,
          control: controlReport,
          peft,
          minutes: phases,
        },
        null,
        2,
      ),
    );
  } finally {
    await executor.close();
    await dash.close();
  }
}

/**
 * The final adapter loaded by PEFT on the SFT model's weights, and by sqlrl's engine as `sqlrl eval
 * --model … --adapter …` loads it: the greedy completions of both, cut at the same stop string.
 */
async function peftCheck(examples: Example[]): Promise<{ skipped: string } | { n: number; same: number; differing: number[] }> {
  const ref = referencePython();
  if ('skipped' in ref) return { skipped: ref.skipped };
  const req = join(OUT, 'peft-request.json');
  const prompts = examples.map((e) => promptMessages(e, { template: TEMPLATE }));
  writeFileSync(req, JSON.stringify({ model: join(OUT, 'sft', 'final'), adapter: join(OUT, 'grpo', 'final'), prompts, max_new: SIZES.maxTokens, stop: ['\n'] }));
  const out = JSON.parse(execFileSync(ref.python, [join(ROOT, 'bench/ref/peft_greedy.py'), req], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, OMP_NUM_THREADS: '2' } }).trim().split('\n').pop()!) as { completions: string[] };
  const policy = await CpuPolicy.load(join(OUT, 'sft', 'final'), { adapterDir: join(OUT, 'grpo', 'final') });
  const gen = new PolicyGenerator(policy, 'grpo');
  const ours = (await gen.generate(prompts.map((messages, i) => ({ id: String(i), messages })), { maxTokens: SIZES.maxTokens, temperature: 0, topP: 1, n: 1, stop: ['\n'] })).map((c) => c[0] ?? '');
  const differing = ours.flatMap((c, i) => (c.trim() === out.completions[i]!.trim() ? [] : [examples[i]!.index]));
  return { n: examples.length, same: examples.length - differing.length, differing };
}

await main();
