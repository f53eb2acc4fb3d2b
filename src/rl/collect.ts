// GRPO's collect phase: draw a batch of prompts in the run's seeded order, sample K completions of each
// (seeded by run, step and draw: a resumed run draws the same), score them. With DAPO dynamic sampling,
// further batches are drawn until `batchSize` groups have rewards that differ (or `maxSampleBatches`).
import type { Example } from '../data/types.js';
import type { Policy, Sample, SampleOptions } from '../interfaces/policy.js';
import type { Score, Scorer } from '../interfaces/scorer.js';

export interface CollectedGroup<S extends Score = Score> {
  example: Example;
  prompt: number[];
  samples: Sample[];
  scores: S[];
}

export interface CollectOptions {
  /** The example at a position of the run's data stream. */
  exampleAt: (cursor: number) => Example;
  promptOf: (ex: Example) => number[];
  /** Assistant text the prompt prefills (the scorer sees it before each completion). */
  prefill: string;
  batchSize: number;
  numGenerations: number;
  sampling: SampleOptions;
  seed: number;
  dynamicSampling: boolean;
  maxSampleBatches: number;
}

export interface Collected<S extends Score = Score> {
  /** Every group drawn this step, in draw order. */
  groups: CollectedGroup<S>[];
  /** Prompts consumed from the data stream. */
  drawn: number;
  secSampling: number;
  secRewards: number;
}

/** A group whose rewards differ among the completions that count: it carries a learning signal. */
export function informative(g: { scores: Score[] }): boolean {
  const kept = g.scores.filter((s) => !s.excluded);
  return kept.some((s) => s.reward !== kept[0]!.reward);
}

/** The first `n` informative groups, topped up in draw order with uninformative ones when there are fewer. */
export function pickGroups<G extends { scores: Score[] }>(groups: G[], n: number): G[] {
  return [...groups.filter(informative), ...groups.filter((g) => !informative(g))].slice(0, n);
}

export async function collect<S extends Score>(policy: Policy, scorer: Scorer<S>, o: CollectOptions, step: number, cursor: number): Promise<Collected<S>> {
  const groups: CollectedGroup<S>[] = [];
  let drawn = 0;
  let secSampling = 0;
  let secRewards = 0;
  const rounds = o.dynamicSampling ? o.maxSampleBatches : 1;
  for (let round = 0; round < rounds; round++) {
    const batch = Array.from({ length: o.batchSize }, (_, i) => o.exampleAt(cursor + drawn + i));
    const prompts = batch.map((ex) => o.promptOf(ex));
    let t = performance.now();
    const samples = await policy.sample(
      prompts.map((prompt, i) => ({ prompt, n: o.numGenerations, seed: (o.seed * 1_000_003 + step * 1009 + drawn + i) >>> 0 })),
      { ...o.sampling, forUpdate: true },
    );
    secSampling += (performance.now() - t) / 1000;
    t = performance.now();
    const scores = await scorer.score(samples.flatMap((group, i) => group.map((s) => ({ completion: s.text, dbPath: batch[i]!.dbPath, goldSql: batch[i]!.goldSql, ...(o.prefill ? { prefix: o.prefill } : {}) }))));
    secRewards += (performance.now() - t) / 1000;
    const K = o.numGenerations;
    batch.forEach((example, i) => groups.push({ example, prompt: prompts[i]!, samples: samples[i]!, scores: scores.slice(i * K, (i + 1) * K) }));
    drawn += o.batchSize;
    if (groups.filter(informative).length >= o.batchSize) break;
  }
  return { groups, drawn, secSampling, secRewards };
}
