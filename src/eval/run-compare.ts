// `sqlrl compare`: the per-example difference between two evaluation runs of the same dataset,
// with a paired bootstrap confidence interval on the accuracy delta.
import { rng } from '../random.js';

export interface ComparedExample {
  index: number;
  bucket: string;
  a: boolean;
  b: boolean;
}

export interface DeltaStats {
  n: number;
  accA: number;
  accB: number;
  delta: number;
  /** 95% paired-bootstrap interval of accB - accA. */
  ci95: [number, number];
  fixed: number;
  broken: number;
  bothRight: number;
  bothWrong: number;
}

/** Paired bootstrap of the mean of `diffs` (each in {-1, 0, 1}); percentile interval. */
export function bootstrapInterval(diffs: number[], resamples = 2000, seed = 0): [number, number] {
  const n = diffs.length;
  if (n === 0) return [0, 0];
  const rand = rng(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += diffs[Math.floor(rand() * n)];
    means[r] = s / n;
  }
  means.sort();
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))];
  return [at(0.025), at(0.975)];
}

export function deltaStats(items: ComparedExample[], seed = 0): DeltaStats {
  const n = items.length;
  let a = 0, b = 0, fixed = 0, broken = 0, bothRight = 0, bothWrong = 0;
  const diffs: number[] = [];
  for (const it of items) {
    a += +it.a;
    b += +it.b;
    if (it.a && it.b) bothRight++;
    else if (!it.a && !it.b) bothWrong++;
    else if (it.b) fixed++;
    else broken++;
    diffs.push(+it.b - +it.a);
  }
  const accA = n ? a / n : 0;
  const accB = n ? b / n : 0;
  return { n, accA, accB, delta: accB - accA, ci95: bootstrapInterval(diffs, 2000, seed), fixed, broken, bothRight, bothWrong };
}

/** Overall and per-bucket statistics. */
export function compareRuns(items: ComparedExample[], seed = 0): { overall: DeltaStats; byBucket: Record<string, DeltaStats> } {
  const buckets = new Map<string, ComparedExample[]>();
  for (const it of items) {
    const list = buckets.get(it.bucket) ?? [];
    list.push(it);
    buckets.set(it.bucket, list);
  }
  const byBucket: Record<string, DeltaStats> = {};
  for (const [k, list] of [...buckets].sort((x, y) => x[0].localeCompare(y[0]))) byBucket[k] = deltaStats(list, seed);
  return { overall: deltaStats(items, seed), byBucket };
}

/** One example of an evaluation report, as far as a comparison needs it. */
export interface ReportedExample {
  index: number;
  db_id: string;
  hardness?: string;
  status: string;
  gold: string;
  pred: string | null;
  question?: string;
}

/**
 * Pairs the examples of two reports of the same dataset by index. Examples skipped in either
 * report (db_missing) are left out. Throws when the two reports are of different datasets.
 */
export function pairReports(a: ReportedExample[], b: ReportedExample[], bucketBy: 'hardness' | 'db'): (ComparedExample & { question?: string; gold: string; predA: string | null; predB: string | null })[] {
  const byIndex = new Map(b.map((e) => [e.index, e]));
  const out = [];
  for (const ea of a) {
    const eb = byIndex.get(ea.index);
    if (!eb) throw new Error(`example ${ea.index} is in the first report but not in the second: compare reports of the same dataset and split`);
    if (eb.gold !== ea.gold) throw new Error(`example ${ea.index} has different gold SQL in the two reports: compare reports of the same dataset and split`);
    if (ea.status === 'db_missing' || eb.status === 'db_missing') continue;
    out.push({
      index: ea.index,
      bucket: bucketBy === 'db' ? ea.db_id : (ea.hardness ?? 'all'),
      a: ea.status === 'match',
      b: eb.status === 'match',
      question: ea.question,
      gold: ea.gold,
      predA: ea.pred,
      predB: eb.pred,
    });
  }
  if (out.length === 0 && a.length > 0) throw new Error('the two reports have no evaluated example in common');
  if (b.length !== a.length) throw new Error(`the reports have ${a.length} and ${b.length} examples: compare reports of the same dataset and split`);
  return out;
}
