// A training run's directory (docs/run-format.md): config.json, metrics.jsonl, samples.jsonl (appended
// a whole line at a time), checkpoints/step-N/ written to a temporary folder and renamed into place, so
// a crash never leaves a half checkpoint that a resume would trust.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rng } from '../random.js';

export interface TrainerState {
  step: number;
  /** Prompts consumed in data order (the data cursor). */
  cursor: number;
  /** Seconds of training before this checkpoint (wall time carries over on resume). */
  elapsed: number;
  /** Extra state the trainer needs to continue exactly (e.g. RNG counters). */
  extra?: Record<string, unknown>;
}

export class RunDir {
  constructor(readonly dir: string) {}

  get metricsFile(): string {
    return join(this.dir, 'metrics.jsonl');
  }

  get samplesFile(): string {
    return join(this.dir, 'samples.jsonl');
  }

  create(config: Record<string, unknown>): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  }

  appendMetrics(rec: object): void {
    appendFileSync(this.metricsFile, JSON.stringify(rec) + '\n');
  }

  appendSamples(recs: Record<string, unknown>[]): void {
    if (recs.length) appendFileSync(this.samplesFile, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  /** The metrics lines written so far (a torn last line is skipped). */
  readMetrics(): { step: number; kind: string }[] {
    if (!existsSync(this.metricsFile)) return [];
    return readFileSync(this.metricsFile, 'utf8')
      .split('\n')
      .flatMap((l) => {
        try {
          return l.trim() ? [JSON.parse(l) as { step: number; kind: string }] : [];
        } catch {
          return [];
        }
      });
  }

  /** Lines of metrics.jsonl up to and including `step` survive a resume; later ones (written after the checkpoint) are cut. */
  truncateAfter(step: number): void {
    for (const file of [this.metricsFile, this.samplesFile]) {
      if (!existsSync(file)) continue;
      const keep = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => {
          if (!l.trim()) return false;
          try {
            return (JSON.parse(l) as { step: number }).step <= step;
          } catch {
            return false; // a torn last line
          }
        });
      writeFileSync(file, keep.length ? keep.join('\n') + '\n' : '');
    }
  }

  checkpointDir(step: number): string {
    return join(this.dir, 'checkpoints', `step-${step}`);
  }

  /** Writes a checkpoint through `write(tmpDir)`, then publishes it atomically; keeps the last `keep`. */
  async saveCheckpoint(state: TrainerState, write: (dir: string) => Promise<void>, keep = 2): Promise<string> {
    const final = this.checkpointDir(state.step);
    const tmp = `${final}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await write(tmp);
    writeFileSync(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2));
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    const all = this.checkpointSteps();
    for (const s of all.slice(0, Math.max(0, all.length - keep))) rmSync(this.checkpointDir(s), { recursive: true, force: true });
    return final;
  }

  checkpointSteps(): number[] {
    const root = join(this.dir, 'checkpoints');
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .map((d) => /^step-(\d+)$/.exec(d))
      .filter((m): m is RegExpExecArray => m !== null && existsSync(join(root, m[0], 'trainer_state.json')))
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  latestCheckpoint(): { dir: string; state: TrainerState } | null {
    const steps = this.checkpointSteps();
    if (!steps.length) return null;
    const dir = this.checkpointDir(steps[steps.length - 1]!);
    return { dir, state: JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as TrainerState };
  }

  writeReport(report: Record<string, unknown>): void {
    writeFileSync(join(this.dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  }
}

/** Seeded data order: epoch e is a Fisher-Yates shuffle of 0..n-1 with seed (seed, e). */
export function dataOrder(n: number, seed: number, epoch: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const random = rng((seed * 2654435761 + epoch * 40503 + 1) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx;
}

/** The example index at position `cursor` of the endless, epoch-by-epoch shuffled stream. */
export function exampleAt(cursor: number, n: number, seed: number, cache: Map<number, number[]> = new Map()): number {
  const epoch = Math.floor(cursor / n);
  let order = cache.get(epoch);
  if (!order) {
    order = dataOrder(n, seed, epoch);
    cache.set(epoch, order);
  }
  return order[cursor % n]!;
}
