// A training run's directory (docs/run-format.md): config.json, metrics.jsonl, samples.jsonl (appended
// a whole line at a time), checkpoints/step-N/ written to a temporary folder and renamed into place, so
// a crash never leaves a half checkpoint that a resume would trust. Each checkpoint carries a manifest
// (every file's size and SHA-256), written last; a resume verifies it, so a checkpoint damaged later
// (a disk error, a file cut short by a copy) is refused with the file named, never trained on.
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { rng } from '../random.js';

/** checkpoints/step-N/manifest.json: what a checkpoint holds, to verify it before resuming from it. */
export interface CheckpointManifest {
  format: 'sqlrl-checkpoint/1';
  step: number;
  /** Path relative to the checkpoint folder -> size in bytes and SHA-256 (hex). */
  files: Record<string, { bytes: number; sha256: string }>;
}

export const MANIFEST = 'manifest.json';

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
  /** `warn` hears about damaged checkpoints skipped on resume (default: a line on stderr). */
  constructor(
    readonly dir: string,
    private readonly warn: (message: string) => void = (m) => process.stderr.write(`sqlrl: warning: ${m}\n`),
  ) {}

  get metricsFile(): string {
    return join(this.dir, 'metrics.jsonl');
  }

  get samplesFile(): string {
    return join(this.dir, 'samples.jsonl');
  }

  create(config: Record<string, unknown>): void {
    mkdirSync(this.dir, { recursive: true });
    writeNamed(join(this.dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  }

  appendMetrics(rec: object): void {
    appendNamed(this.metricsFile, JSON.stringify(rec) + '\n');
  }

  appendSamples(recs: Record<string, unknown>[]): void {
    if (recs.length) appendNamed(this.samplesFile, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
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
      writeNamed(file, keep.length ? keep.join('\n') + '\n' : '');
    }
  }

  checkpointDir(step: number): string {
    return join(this.dir, 'checkpoints', `step-${step}`);
  }

  /**
   * Writes a checkpoint through `write(tmpDir)`, adds trainer_state.json and the manifest (last), then
   * publishes it atomically; keeps the last `keep`. On failure (a full disk) the temporary folder is
   * removed, the previous checkpoints stay, and the error names the path.
   */
  async saveCheckpoint(state: TrainerState, write: (dir: string) => Promise<void>, keep = 2): Promise<string> {
    this.removeStaleTemporaries();
    const final = this.checkpointDir(state.step);
    const tmp = `${final}.tmp`;
    try {
      mkdirSync(tmp, { recursive: true });
      await write(tmp);
      writeFileSync(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2));
      const manifest: CheckpointManifest = { format: 'sqlrl-checkpoint/1', step: state.step, files: hashFolder(tmp) };
      writeFileSync(join(tmp, `${MANIFEST}.tmp`), JSON.stringify(manifest, null, 2));
      fsyncFile(join(tmp, `${MANIFEST}.tmp`));
      renameSync(join(tmp, `${MANIFEST}.tmp`), join(tmp, MANIFEST));
      fsyncFile(tmp);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      const previous = this.checkpointSteps().filter((s) => s !== state.step).pop();
      const e = err as NodeJS.ErrnoException;
      throw Object.assign(new Error(`cannot write checkpoint ${tmp}: ${e.message}; ${previous !== undefined ? `the previous checkpoint (${this.checkpointDir(previous)}) is kept` : 'no earlier checkpoint exists'}`), { code: e.code });
    }
    // Re-saving a step (a resumed run reaching it again): the old copy goes only once the new one is in place.
    const old = `${final}.old`;
    if (existsSync(final)) renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
    const all = this.checkpointSteps();
    for (const s of all.slice(0, Math.max(0, all.length - keep))) rmSync(this.checkpointDir(s), { recursive: true, force: true });
    return final;
  }

  /** Steps of the published checkpoint folders (step-N), oldest first, whether or not they verify. */
  checkpointSteps(): number[] {
    const root = join(this.dir, 'checkpoints');
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .map((d) => /^step-(\d+)$/.exec(d))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /**
   * The checkpoint to resume from: the newest that verifies (verifyCheckpoint). Damaged newer ones are
   * skipped, each with a warning naming what is wrong; if checkpoints exist but none verifies, this
   * throws rather than let a run start over. Null when there is no checkpoint at all. Stale temporary
   * folders of interrupted saves are removed.
   */
  latestCheckpoint(): { dir: string; state: TrainerState; skipped: { dir: string; problem: string }[] } | null {
    this.removeStaleTemporaries();
    const steps = this.checkpointSteps();
    const skipped: { dir: string; problem: string }[] = [];
    for (const step of [...steps].reverse()) {
      const dir = this.checkpointDir(step);
      try {
        const state = this.verifyCheckpoint(dir);
        for (const s of skipped) this.warn(`${s.problem}; resuming from ${dir} instead`);
        return { dir, state, skipped };
      } catch (err) {
        skipped.push({ dir, problem: (err as Error).message });
      }
    }
    if (skipped.length) throw new Error(`no usable checkpoint in ${join(this.dir, 'checkpoints')}: ${skipped.map((s) => s.problem).join('; ')}`);
    return null;
  }

  /**
   * Checks a checkpoint against its manifest (every file present, of the recorded size and SHA-256) and
   * returns its trainer state; throws one line naming the checkpoint, the file and what is wrong.
   */
  verifyCheckpoint(dir: string): TrainerState {
    const where = `checkpoint ${dir}`;
    const manifestFile = join(dir, MANIFEST);
    if (!existsSync(manifestFile)) throw new Error(`${where}: no ${MANIFEST} (an interrupted save, or written by an sqlrl before 0.2)`);
    let manifest: CheckpointManifest;
    try {
      manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as CheckpointManifest;
    } catch (err) {
      throw new Error(`${where}: ${MANIFEST} is not valid JSON (${(err as Error).message})`);
    }
    if (manifest?.format !== 'sqlrl-checkpoint/1' || !manifest.files || typeof manifest.files !== 'object') throw new Error(`${where}: ${MANIFEST} is not an sqlrl checkpoint manifest`);
    for (const [name, want] of Object.entries(manifest.files)) {
      const file = join(dir, name);
      if (!existsSync(file)) throw new Error(`${where}: ${name} is missing`);
      const bytes = statSync(file).size;
      if (bytes !== want.bytes) throw new Error(`${where}: ${name} is ${bytes} bytes, the manifest says ${want.bytes} (truncated or overwritten)`);
      if (sha256File(file) !== want.sha256) throw new Error(`${where}: ${name} does not match its checksum (corrupted on disk)`);
    }
    if (!manifest.files['trainer_state.json']) throw new Error(`${where}: the manifest lists no trainer_state.json`);
    return readTrainerState(join(dir, 'trainer_state.json'));
  }

  /** checkpoints/*.tmp and *.old: folders of saves that a crash interrupted; never trusted, always removed. */
  removeStaleTemporaries(): void {
    const root = join(this.dir, 'checkpoints');
    if (!existsSync(root)) return;
    for (const d of readdirSync(root)) if (/^step-\d+\.(tmp|old)$/.test(d)) rmSync(join(root, d), { recursive: true, force: true });
  }

  writeReport(report: Record<string, unknown>): void {
    writeNamed(join(this.dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  }
}

/** trainer_state.json, with a parse error or a missing field named. */
export function readTrainerState(file: string): TrainerState {
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as TrainerState;
  } catch (err) {
    throw new Error(`${file}: invalid JSON (${(err as Error).message}); the checkpoint is corrupt`);
  }
  for (const k of ['step', 'cursor', 'elapsed'] as const) {
    if (typeof state?.[k] !== 'number' || !Number.isFinite(state[k])) throw new Error(`${file}: '${k}' is missing or not a number`);
  }
  return state;
}

/** Every file under `root` (recursively) -> size and SHA-256; each is fsynced on the way, as it is read. */
function hashFolder(root: string, dir = root, out: CheckpointManifest['files'] = {}): CheckpointManifest['files'] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) hashFolder(root, path, out);
    else if (entry.name !== `${MANIFEST}.tmp`) out[relative(root, path)] = { bytes: statSync(path).size, sha256: sha256File(path, true) };
  }
  return out;
}

function sha256File(path: string, sync = false): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
    if (sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Flushes a file (or a folder's entries) to disk; where a platform cannot open folders, folders are skipped. */
function fsyncFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (statSync(path).isDirectory()) return;
    throw err;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    if (!statSync(path).isDirectory()) throw err;
  } finally {
    closeSync(fd);
  }
}

/** Errors of run files name the file (Node's ENOSPC message does not). */
function writeNamed(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw Object.assign(new Error(`cannot write ${file}: ${(err as Error).message}`), { code: (err as NodeJS.ErrnoException).code });
  }
}

function appendNamed(file: string, text: string): void {
  try {
    appendFileSync(file, text);
  } catch (err) {
    throw Object.assign(new Error(`cannot append to ${file}: ${(err as Error).message}`), { code: (err as NodeJS.ErrnoException).code });
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
