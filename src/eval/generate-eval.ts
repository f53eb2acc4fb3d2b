// Evaluation of a generator (native model, OpenAI-compatible endpoint): prompt each example, extract
// the SQL, judge it by execution. Greedy EX always; with n > 1 also self-consistency (vote by
// execution result, as SQL-R1 and OmniSQL do) and pass@k over the n samples.
import type { Example } from '../data/types.js';
import type { CompareMode } from '../sql/compare.js';
import type { SqlExecutor } from '../sql/executor.js';
import { executionMatch } from '../sql/match.js';
import { evaluatePredictions, type EvalReport, type EvaluatedExample } from './execution-eval.js';
import { mapConcurrent } from './concurrency.js';
import { CompletionCache, requestKey, type ChatMessage, type GenerationParams, type Generator } from './generators.js';
import { majorityVote, passAtK } from './voting.js';

export interface GenerateEvalOptions {
  examples: Example[];
  generator: Generator;
  /** The prompt of one example (shared with training: data/prompt). */
  messages: (ex: Example) => ChatMessage[];
  /** SQL out of a response (prefill + completion; shared with rewards: reward/extract); null when there is none. */
  extract: (response: string) => string | null;
  /** Text the prompt template prefills in the assistant turn (data/prompt templatePrefill); '' for none. */
  prefill?: string;
  executor: SqlExecutor;
  mode: CompareMode;
  maxTokens: number;
  stop?: string[];
  /** Samples per example for self-consistency and pass@k; 1 = greedy only. */
  n?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** JSONL file of finished generations: an interrupted run resumes from it. */
  cacheFile?: string | null;
  skipMissingDb?: boolean;
  missingDbPaths?: Set<string>;
  onProgress?: (phase: 'greedy' | 'sample' | 'judge', done: number, total: number) => void;
  /** Told how many generations came from the cache (resumed runs). */
  onCached?: (cached: number, total: number) => void;
}

export interface SelfConsistency {
  n: number;
  temperature: number;
  execution_accuracy: number;
  pass_at_k: Record<string, number>;
}

export interface GeneratedExample extends EvaluatedExample {
  completion?: string;
  vote_status?: string;
  vote_pred?: string | null;
  vote_votes?: number;
  samples_correct?: number;
}

export interface GenerateEvalReport extends Omit<EvalReport, 'summary' | 'examples'> {
  summary: EvalReport['summary'] & { generator?: string; self_consistency?: SelfConsistency };
  examples: GeneratedExample[];
}

async function generateCached(
  gen: Generator,
  requests: { id: string; messages: ChatMessage[] }[],
  params: GenerationParams,
  cache: CompletionCache,
  onDone: (done: number) => void,
): Promise<string[][]> {
  const keys = requests.map((r) => requestKey(gen.name, r, params));
  const out: (string[] | undefined)[] = keys.map((k) => cache.get(k));
  const todo = requests.map((r, i) => ({ r, i })).filter(({ i }) => !out[i]);
  let done = requests.length - todo.length;
  onDone(done);
  // Batches of the generator's concurrency, each written to the cache before the next starts, so an
  // interrupted run loses at most one batch.
  const size = Math.max(1, gen.concurrency ?? 1);
  for (let start = 0; start < todo.length; start += size) {
    const batch = todo.slice(start, start + size);
    const got = await gen.generate(batch.map((t) => t.r), params, () => onDone(++done));
    batch.forEach(({ r, i }, j) => {
      out[i] = got[j]!;
      cache.put(keys[i]!, r.id, got[j]!);
    });
  }
  return out as string[][];
}

export async function evaluateGenerator(opts: GenerateEvalOptions): Promise<GenerateEvalReport> {
  const cache = new CompletionCache(opts.cacheFile ?? null);
  const prefill = opts.prefill ?? '';
  // The prefill is part of the request (and of its cache key) only when there is one: caches of runs without it stay valid.
  const requests = opts.examples.map((ex) => ({ id: ex.id, messages: opts.messages(ex), ...(prefill ? { prefill } : {}) }));
  const total = requests.length;
  const skip = opts.missingDbPaths ?? new Set<string>();
  const live = requests.filter((_, i) => !skip.has(opts.examples[i]!.dbPath));
  const liveIndex = opts.examples.map((ex, i) => (skip.has(ex.dbPath) ? -1 : i)).filter((i) => i >= 0);

  const base: Omit<GenerationParams, 'n' | 'temperature'> = { topP: 1, maxTokens: opts.maxTokens, ...(opts.stop ? { stop: opts.stop } : {}), ...(opts.seed !== undefined ? { seed: opts.seed } : {}) };
  const n = opts.n ?? 1;
  const temperature = opts.temperature ?? 0.8;
  // Greedy and sampled generations go chunk by chunk, each chunk's sampling right after its greedy pass:
  // a generator that keeps prompts it has just run (the CPU engine) prefills each prompt once.
  const chunk = Math.max(8, opts.generator.concurrency ?? 1);
  const greedyParams: GenerationParams = { ...base, n: 1, temperature: 0 };
  opts.onCached?.(live.filter((r) => cache.get(requestKey(opts.generator.name, r, greedyParams))).length, live.length);
  const greedyLive: string[][] = [];
  const sampledLive: string[][] = [];
  for (let c0 = 0; c0 < live.length; c0 += chunk) {
    const part = live.slice(c0, c0 + chunk);
    greedyLive.push(...(await generateCached(opts.generator, part, greedyParams, cache, (d) => opts.onProgress?.('greedy', c0 + d, live.length))));
    if (n > 1) sampledLive.push(...(await generateCached(opts.generator, part, { ...base, n, temperature, topP: opts.topP ?? 1 }, cache, (d) => opts.onProgress?.('sample', c0 + d, live.length))));
  }
  const completions: (string | null)[] = new Array(total).fill(null);
  // Completions are recorded as the whole assistant turn (prefill + generated text): what extraction reads.
  liveIndex.forEach((i, j) => (completions[i] = prefill + (greedyLive[j]![0] ?? '')));
  const predictions = completions.map((c) => (c === null ? null : opts.extract(c)));

  const report = (await evaluatePredictions({
    examples: opts.examples,
    predictions,
    executor: opts.executor,
    mode: opts.mode,
    skipMissingDb: opts.skipMissingDb ?? false,
    missingDbPaths: skip,
    onProgress: (d) => opts.onProgress?.('judge', d, total),
  })) as GenerateEvalReport;
  report.summary.generator = opts.generator.name;
  report.examples.forEach((e, i) => {
    if (completions[i] !== null) e.completion = completions[i]!;
  });

  if (n > 1) {
    const sampled = sampledLive;
    let voteCorrect = 0;
    const ks = [1, ...[2, 4, 8, 16, 32].filter((k) => k <= n)].filter((k, i, a) => a.indexOf(k) === i);
    const passSums: Record<string, number> = Object.fromEntries(ks.map((k) => [String(k), 0]));
    await mapConcurrent(liveIndex, 8, async (i, j) => {
      const ex = opts.examples[i]!;
      const sqls = sampled[j]!.map((c) => opts.extract(prefill + c));
      const judged = await Promise.all(
        sqls.map((sql) => (sql ? executionMatch(opts.executor, { dbPath: ex.dbPath, goldSql: ex.goldSql, predSql: sql, mode: opts.mode }) : Promise.resolve(null))),
      );
      const vote = majorityVote(sqls.map((sql, k) => ({ sql, result: judged[k]?.pred ?? null })));
      const chosen = judged[vote.index];
      const correct = judged.filter((m) => m?.verdict === 'match').length;
      const row = report.examples[i]!;
      row.vote_pred = sqls[vote.index] ?? null;
      row.vote_status = chosen ? (chosen.verdict === 'gold_error' ? 'error' : chosen.verdict) : 'no_sql';
      row.vote_votes = vote.votes;
      row.samples_correct = correct;
      if (row.vote_status === 'match') voteCorrect++;
      for (const k of ks) passSums[String(k)]! += passAtK(sqls.length, correct, k);
    });
    const evaluated = liveIndex.length;
    report.summary.self_consistency = {
      n,
      temperature,
      execution_accuracy: evaluated ? voteCorrect / evaluated : 0,
      pass_at_k: Object.fromEntries(Object.entries(passSums).map(([k, s]) => [k, evaluated ? s / evaluated : 0])),
    };
  }
  return report;
}
