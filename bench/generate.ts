// `npm run bench:generate` — greedy evaluation with the native engine: examples per second, and the cost of
// the evaluation machinery itself (prompt rendering, SQL extraction, sandboxed execution of prediction and
// gold, comparison, report) per example. Reference in the same process: the same evaluation replaying the
// completions just generated, so it measures everything but generation. Model: SmolLM2-135M-Instruct (the
// test model, `scripts/fetch-test-model.sh`); data: the built-in benchmark's held-out split.
// Then Spider dev (where ../shared/data/spider exists), where every question on one database begins with
// the same schema: greedy evaluation with prompts computed from their shared beginning (the default) and
// with every prompt computed whole, in the same run: examples/s of each, prompt tokens computed, and how
// many completions are identical.
// Options via env: GEN_N (examples, default 40), GEN_MAX_TOKENS (default 64), GEN_SPIDER_N (default 96).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadDataset } from '../src/data/datasets.js';
import { join, resolve } from 'node:path';
import { loadSynth } from '../src/data/synth.js';
import { promptMessages } from '../src/data/prompt.js';
import { blasDescription } from '../src/engine/blas.js';
import { CpuPolicy } from '../src/engine/policy.js';
import { evaluateGenerator } from '../src/eval/generate-eval.js';
import type { GenerationParams, GenerationRequest, Generator } from '../src/eval/generators.js';
import { PolicyGenerator } from '../src/eval/native-generator.js';
import { extractSql } from '../src/reward/extract.js';
import { SqlExecutor } from '../src/sql/executor.js';
import { selfPeakMiB } from './lib/peak-rss.js';

const ROOT = resolve(import.meta.dirname, '..');
const MODEL = join(ROOT, '.cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
const N = Number(process.env.GEN_N ?? 40);
const MAX_TOKENS = Number(process.env.GEN_MAX_TOKENS ?? 64);
if (!existsSync(MODEL)) {
  console.error(`bench:generate: test model missing at ${MODEL}; run: bash scripts/fetch-test-model.sh`);
  process.exit(1);
}

/** Times the wrapped generator and keeps what it returned, by request id. */
class Recording implements Generator {
  ms = 0;
  readonly seen = new Map<string, string[]>();
  constructor(private readonly inner: Generator) {}
  get name(): string {
    return this.inner.name;
  }
  /** The wrapped generator's batch size (without it the evaluation hands over one request at a time). */
  get concurrency(): number | undefined {
    return this.inner.concurrency;
  }
  async generate(requests: GenerationRequest[], params: GenerationParams, onDone?: (i: number) => void): Promise<string[][]> {
    const t = performance.now();
    const out = await this.inner.generate(requests, params, onDone);
    this.ms += performance.now() - t;
    requests.forEach((r, i) => this.seen.set(r.id, out[i]!));
    return out;
  }
}

/** Returns recorded completions: generation costs nothing, everything else runs as usual. */
class Replay implements Generator {
  readonly name = 'replay';
  constructor(private readonly recorded: Map<string, string[]>) {}
  async generate(requests: GenerationRequest[]): Promise<string[][]> {
    return requests.map((r) => this.recorded.get(r.id)!);
  }
}

const examples = loadSynth('heldout').slice(0, N);
const executor = new SqlExecutor({ timeoutMs: 10_000 });
const policy = await CpuPolicy.load(MODEL);
const common = {
  examples,
  messages: (e: (typeof examples)[number]) => promptMessages(e, { template: 'compact' }),
  extract: (c: string) => extractSql(c).sql,
  executor,
  mode: 'spider' as const,
  maxTokens: MAX_TOKENS,
};
const recording = new Recording(new PolicyGenerator(policy, 'smollm2'));
let t = performance.now();
const live = await evaluateGenerator({ ...common, generator: recording });
const liveS = (performance.now() - t) / 1000;
// Replay twice; the second (gold results cached, workers warm) is the steady state of a long evaluation.
t = performance.now();
await evaluateGenerator({ ...common, generator: new Replay(recording.seen) });
const coldMs = performance.now() - t;
t = performance.now();
const replay = await evaluateGenerator({ ...common, generator: new Replay(recording.seen) });
const warmMs = performance.now() - t;
await executor.close();
if (replay.summary.execution_accuracy !== live.summary.execution_accuracy) throw new Error('replay disagrees with the live evaluation');

const genS = recording.ms / 1000;
const lines = [
  `bench:generate — SmolLM2-135M-Instruct, ${N} built-in held-out questions, greedy, max ${MAX_TOKENS} tokens; BLAS ${blasDescription()}`,
  `  greedy evaluation        ${(N / liveS).toFixed(2)} examples/s  (${liveS.toFixed(1)} s; EX ${(100 * live.summary.execution_accuracy).toFixed(1)}%)`,
  `  of which generation      ${genS.toFixed(1)} s  (${((100 * genS) / liveS).toFixed(1)}% of the wall time)`,
  `  machinery per example    ${((1000 * (liveS - genS)) / N).toFixed(2)} ms in the live run`,
  `  replay (no generation)   ${(coldMs / N).toFixed(2)} ms/example cold, ${(warmMs / N).toFixed(2)} ms/example warm (gold cached)`,
  `  machinery / generation   ${((100 * (warmMs / N)) / ((1000 * genS) / N)).toFixed(2)}% (ratio of per-example costs)`,
  `  peak RSS                 ${selfPeakMiB().toFixed(0)} MiB (this process: model, sampler, evaluation; the SQL sandbox workers are separate processes, not included)`,
];

// Spider dev: shared schema beginnings vs whole prompts
const SPIDER = resolve(ROOT, '../shared/data/spider');
if (existsSync(join(SPIDER, 'dev.json'))) {
  const dev = loadDataset({ dataset: 'spider', dataDir: SPIDER, split: 'dev' })
    .filter((e) => existsSync(e.dbPath))
    .slice(0, Number(process.env.GEN_SPIDER_N ?? 96));
  const spiderExec = new SqlExecutor({ timeoutMs: 10_000 });
  const runSpider = async (share: boolean) => {
    const p = await CpuPolicy.load(MODEL, { sharePrefixes: share });
    let rows = 0;
    const m = p.model;
    const prefill = m.prefillMany.bind(m);
    const extend = m.extendMany.bind(m);
    m.prefillMany = (ps, adapter, keep) => ((rows += ps.reduce((a, x) => a + x.length, 0)), prefill(ps, adapter, keep));
    m.extendMany = (items, keep) => ((rows += items.reduce((a, it) => a + it.suffix.length, 0)), extend(items, keep));
    const rec = new Recording(new PolicyGenerator(p, 'smollm2'));
    const t0 = performance.now();
    const r = await evaluateGenerator({ ...common, examples: dev, executor: spiderExec, generator: rec, stop: ['\n'] });
    return { s: (performance.now() - t0) / 1000, rows, ex: r.summary.execution_accuracy, seen: rec.seen };
  };
  const whole = await runSpider(false);
  const shared = await runSpider(true);
  await spiderExec.close();
  const same = [...shared.seen].filter(([id, c]) => JSON.stringify(c) === JSON.stringify(whole.seen.get(id))).length;
  lines.push(
    `  Spider dev, ${dev.length} questions in dataset order (compact prompt, greedy, stop at a line break):`,
    `    prompts computed whole          ${(dev.length / whole.s).toFixed(2)} examples/s  (${whole.s.toFixed(1)} s; ${whole.rows} prompt tokens computed; EX ${(100 * whole.ex).toFixed(1)}%)`,
    `    shared schema beginnings        ${(dev.length / shared.s).toFixed(2)} examples/s  (${shared.s.toFixed(1)} s; ${shared.rows} prompt tokens computed; EX ${(100 * shared.ex).toFixed(1)}%)`,
    `    speed-up ${(whole.s / shared.s).toFixed(2)}×, prompt tokens ÷ ${(whole.rows / shared.rows).toFixed(2)}; identical completions ${same} of ${dev.length}`,
  );
}
console.log(lines.join('\n'));
mkdirSync(join(ROOT, 'bench/out'), { recursive: true });
writeFileSync(join(ROOT, 'bench/out/generate.txt'), lines.join('\n') + '\n');
