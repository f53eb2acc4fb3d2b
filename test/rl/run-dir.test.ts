// Checkpoints that a resume can trust: a manifest of sizes and SHA-256s written last; a checkpoint damaged
// afterwards (a file cut short, flipped bytes, a torn trainer_state.json) is refused naming the file, and
// the resume falls back to the previous one, loudly; stale temporary folders are removed; a full disk
// names the path and keeps the previous checkpoint. And the engine's own checks, on a real policy: a cut
// trainable.safetensors or optimizer.bin refused with the file named.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDir, type TrainerState } from '../../src/rl/run-dir.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-rundir-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const state = (step: number): TrainerState => ({ step, cursor: step * 4, elapsed: step * 1.5 });

/** Stands for the policy's files: a weights file and an optimizer file of known content. */
const writeFiles = (step: number) => async (dir: string) => {
  writeFileSync(join(dir, 'trainable.safetensors'), Buffer.alloc(1000 + step, step));
  writeFileSync(join(dir, 'optimizer.bin'), Buffer.alloc(2000, 7));
  writeFileSync(join(dir, 'optimizer.json'), JSON.stringify({ step }));
};

function newRun(name: string): { run: RunDir; warnings: string[] } {
  const warnings: string[] = [];
  const run = new RunDir(join(tmp, name), (m) => warnings.push(m));
  run.create({ name });
  return { run, warnings };
}

test('a checkpoint carries a manifest of every file with its size and SHA-256; resume returns the newest', async () => {
  const { run, warnings } = newRun('manifest');
  await run.saveCheckpoint(state(10), writeFiles(10));
  const dir = await run.saveCheckpoint(state(20), writeFiles(20));
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const files = ['optimizer.bin', 'optimizer.json', 'trainable.safetensors', 'trainer_state.json'];
  assert.deepEqual(manifest, {
    format: 'sqlrl-checkpoint/1',
    step: 20,
    files: Object.fromEntries(files.map((f) => [f, { bytes: readFileSync(join(dir, f)).length, sha256: sha(join(dir, f)) }])),
  });
  assert.equal(manifest.files['trainable.safetensors'].bytes, 1020);
  assert.deepEqual(run.latestCheckpoint(), { dir, state: state(20), skipped: [] });
  assert.deepEqual(warnings, []);
});

test('a newest checkpoint cut short is refused naming the file; resume falls back to the previous one, with a warning', async () => {
  const { run, warnings } = newRun('cut');
  const first = await run.saveCheckpoint(state(10), writeFiles(10));
  const second = await run.saveCheckpoint(state(20), writeFiles(20));
  truncateSync(join(second, 'trainable.safetensors'), 510);
  const ck = run.latestCheckpoint()!;
  assert.equal(ck.dir, first);
  assert.deepEqual(ck.state, state(10));
  const problem = `checkpoint ${second}: trainable.safetensors is 510 bytes, the manifest says 1020 (truncated or overwritten)`;
  assert.deepEqual(ck.skipped, [{ dir: second, problem }]);
  assert.deepEqual(warnings, [`${problem}; resuming from ${first} instead`]);
});

test('flipped bytes, a missing file, a torn trainer_state.json, no manifest: each named; none usable is an error, not a fresh start', async () => {
  const { run } = newRun('damaged');
  const a = await run.saveCheckpoint(state(10), writeFiles(10));
  const b = await run.saveCheckpoint(state(20), writeFiles(20));
  const bin = join(b, 'optimizer.bin');
  const bytes = readFileSync(bin);
  bytes[100] = 0;
  writeFileSync(bin, bytes);
  assert.throws(() => run.verifyCheckpoint(b), new RegExp(`^Error: checkpoint ${esc(b)}: optimizer\\.bin does not match its checksum \\(corrupted on disk\\)$`));
  rmSync(bin);
  assert.throws(() => run.verifyCheckpoint(b), new RegExp(`^Error: checkpoint ${esc(b)}: optimizer\\.bin is missing$`));
  // A torn trainer_state.json whose manifest entry was rewritten to match: the JSON error names the file.
  const ts = join(a, 'trainer_state.json');
  writeFileSync(ts, '{"step": 10, "cur');
  const m = JSON.parse(readFileSync(join(a, 'manifest.json'), 'utf8'));
  m.files['trainer_state.json'] = { bytes: 17, sha256: sha(ts) };
  writeFileSync(join(a, 'manifest.json'), JSON.stringify(m));
  assert.throws(() => run.verifyCheckpoint(a), new RegExp(`^Error: ${esc(ts)}: invalid JSON \\(.+\\); the checkpoint is corrupt$`));
  rmSync(join(a, 'manifest.json'));
  assert.throws(() => run.verifyCheckpoint(a), new RegExp(`^Error: checkpoint ${esc(a)}: no manifest\\.json`));
  assert.throws(() => run.latestCheckpoint(), new RegExp(`^Error: no usable checkpoint in ${esc(join(run.dir, 'checkpoints'))}: checkpoint ${esc(b)}: optimizer\\.bin is missing; checkpoint ${esc(a)}: no manifest\\.json`));
  assert.equal(newRun('empty').run.latestCheckpoint(), null);
});

test('stale temporary folders of interrupted saves are removed, on save and on resume', async () => {
  const { run } = newRun('stale');
  const root = join(run.dir, 'checkpoints');
  mkdirSync(join(root, 'step-30.tmp'), { recursive: true });
  writeFileSync(join(root, 'step-30.tmp', 'trainable.safetensors'), 'half');
  await run.saveCheckpoint(state(20), writeFiles(20));
  assert.deepEqual(readdirSync(root), ['step-20']);
  mkdirSync(join(root, 'step-40.tmp'));
  mkdirSync(join(root, 'step-20.old'));
  assert.equal(run.latestCheckpoint()!.state.step, 20);
  assert.deepEqual(readdirSync(root), ['step-20']);
});

test('a full disk (ENOSPC) while saving: the error names the path, no .tmp is left, the previous checkpoint stays', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, async () => {
  const { run } = newRun('full');
  const prev = await run.saveCheckpoint(state(10), writeFiles(10));
  const tmpDir = `${run.checkpointDir(20)}.tmp`;
  // The optimizer file lands on /dev/full: the kernel answers ENOSPC, as a full disk does.
  const fullDisk = async (dir: string) => {
    writeFileSync(join(dir, 'trainable.safetensors'), Buffer.alloc(1020, 1));
    symlinkSync('/dev/full', join(dir, 'optimizer.bin'));
    writeFileSync(join(dir, 'optimizer.bin'), Buffer.alloc(2000, 7));
  };
  await assert.rejects(run.saveCheckpoint(state(20), fullDisk), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ENOSPC');
    assert.equal(err.message, `cannot write checkpoint ${tmpDir}: ENOSPC: no space left on device, write; the previous checkpoint (${prev}) is kept`);
    return true;
  });
  assert.deepEqual(readdirSync(join(run.dir, 'checkpoints')), ['step-10']);
  assert.deepEqual(run.latestCheckpoint()!.state, state(10));
});

test('the engine refuses a cut trainable.safetensors or optimizer.bin of a real checkpoint, naming the file', async () => {
  const { CpuPolicy } = await import('../../src/engine/policy.js');
  const modelDir = join(tmp, 'tiny');
  writeTinyModelDir(modelDir, 'llama');
  const lora = { kind: 'lora' as const, lora: { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] as ('q_proj' | 'v_proj')[] } };
  const policy = await CpuPolicy.load(modelDir, { train: lora });
  const { run } = newRun('engine');
  const dir = await run.saveCheckpoint(state(5), (d) => policy.saveCheckpoint(d));
  const fresh = await CpuPolicy.load(modelDir, { train: lora });
  await fresh.loadCheckpoint(dir); // intact: loads
  const bin = join(dir, 'optimizer.bin');
  const binBytes = readFileSync(bin).length;
  truncateSync(bin, binBytes / 2);
  await assert.rejects(fresh.loadCheckpoint(dir), new RegExp(`^Error: ${esc(bin)}: ${binBytes / 2} bytes, expected ${binBytes} \\(two float32 moments per trained weight\\); the checkpoint is truncated or corrupt$`));
  const weights = join(dir, 'trainable.safetensors');
  const size = readFileSync(weights).length;
  truncateSync(weights, size - 16); // the last tensor loses its last four values
  await assert.rejects(fresh.loadCheckpoint(dir), new RegExp(`^Error: ${esc(weights)}: truncated safetensors file: tensor '.+' needs data up to byte ${size} but the file has ${size - 16} bytes$`));
  truncateSync(weights, size / 2); // inside the header
  await assert.rejects(fresh.loadCheckpoint(dir), new RegExp(`^Error: ${esc(weights)} is not a safetensors file, or is truncated \\(header length \\d+, file size ${size / 2} bytes\\)$`));
  assert.throws(() => run.verifyCheckpoint(dir), /optimizer\.bin is \d+ bytes, the manifest says \d+/);
});
