// AdamW (PyTorch semantics: decoupled weight decay, bias-corrected moments), global-norm gradient
// clipping, and learning-rate schedules matching Hugging Face's get_*_schedule_with_warmup.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Param } from './model.js';
import { rowKernels } from './wasm/rows.js';

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** Scales every gradient so their global L2 norm is at most maxNorm (≤ 0: no clipping); returns the norm before. */
export function clipGradNorm(params: Param[], maxNorm: number): number {
  let ss = 0;
  for (const p of params) for (let i = 0; i < p.grad.length; i++) ss += p.grad[i]! * p.grad[i]!;
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const k = maxNorm / (norm + 1e-6);
    for (const p of params) for (let i = 0; i < p.grad.length; i++) p.grad[i]! *= k;
  }
  return norm;
}

export class AdamW {
  step = 0;
  readonly m: Float32Array[];
  readonly v: Float32Array[];

  constructor(
    readonly params: Param[],
    public opts: AdamWOptions = ADAMW_DEFAULTS,
  ) {
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  /** One update with the current gradients (not zeroed here). */
  update(lr = this.opts.lr): void {
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2 = 1 - Math.pow(beta2, this.step);
    const stepSize = lr / bc1;
    const bc2Sqrt = Math.sqrt(bc2);
    // the loop is the row kernels' (WebAssembly SIMD, in float32 as PyTorch's; ~10× the scalar loop)
    const K = rowKernels();
    const o = { beta1, beta2, stepSize, bc2Sqrt, eps, decay: 1 - lr * weightDecay };
    this.params.forEach((p, k) => K.adamw(p.data, p.grad, this.m[k]!, this.v[k]!, p.data.length, o));
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    const total = this.m.reduce((s, a) => s + a.length, 0);
    const buf = new Float32Array(2 * total);
    let o = 0;
    for (const a of [...this.m, ...this.v]) {
      buf.set(a, o);
      o += a.length;
    }
    writeFileSync(join(dir, 'optimizer.bin'), new Uint8Array(buf.buffer));
    writeFileSync(join(dir, 'optimizer.json'), JSON.stringify({ step: this.step, opts: this.opts, params: this.params.map((p) => [p.name, p.data.length]) }));
  }

  load(dir: string): void {
    const metaFile = join(dir, 'optimizer.json');
    if (!existsSync(metaFile)) throw new Error(`${dir}: no optimizer.json`);
    let meta: { step: number; params: [string, number][] };
    try {
      meta = JSON.parse(readFileSync(metaFile, 'utf8')) as typeof meta;
    } catch (err) {
      throw new Error(`${metaFile}: invalid JSON (${(err as Error).message}); the checkpoint is corrupt`);
    }
    if (!meta || !Number.isSafeInteger(meta.step) || meta.step < 0 || !Array.isArray(meta.params)) throw new Error(`${metaFile}: needs a step count and the parameter list`);
    const names = this.params.map((p) => `${p.name}:${p.data.length}`).join(',');
    if (meta.params.map(([n, l]) => `${n}:${l}`).join(',') !== names) throw new Error(`${dir}: optimizer state does not match the model's trainable parameters`);
    const binFile = join(dir, 'optimizer.bin');
    if (!existsSync(binFile)) throw new Error(`${dir}: no optimizer.bin`);
    const raw = readFileSync(binFile);
    // Both moments (m then v) of every parameter, float32: anything else is a truncated or foreign file.
    const expected = 2 * this.m.reduce((s, a) => s + a.length, 0) * 4;
    if (raw.byteLength !== expected) throw new Error(`${binFile}: ${raw.byteLength} bytes, expected ${expected} (two float32 moments per trained weight); the checkpoint is truncated or corrupt`);
    const buf = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    let o = 0;
    for (const a of [...this.m, ...this.v]) {
      a.set(buf.subarray(o, o + a.length));
      o += a.length;
    }
    this.step = meta.step;
  }
}

export type Schedule = 'constant' | 'linear' | 'cosine';

/** Multiplier of the base learning rate at `step` (0-based), as transformers' schedules with warmup. */
export function lrMultiplier(schedule: Schedule, step: number, totalSteps: number, warmupSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (schedule === 'constant') return 1;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (schedule === 'linear') return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
}
