// `npm run bench:engine` — the CPU engine against references run in the same script:
//  - GEMM on SmolLM2's shapes: the engine's sgemm (koffi → OpenBLAS) vs a C program calling OpenBLAS, and the
//    raw sgemm rate (the best of large products) that the model passes are measured against;
//  - SmolLM2-135M prefill (256 tokens) and decode (batch 1 and 8) tokens/s vs Hugging Face transformers;
//  - LoRA r16 (all seven projections) forward + backward of 8 × 256 tokens on SmolLM2-135M and on a model
//    with Qwen2.5-0.5B's shapes (random weights: no hub here), vs transformers + PEFT doing the same, warmed
//    up, same thread count: seconds, achieved GFLOP/s as a share of raw sgemm, true peak RSS of each process.
// Each measurement runs in its own process, so each peak RSS is its own.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packGroups, type GroupInput } from '../src/engine/batch.js';
import { blasDescription, blasInfo, sgemm } from '../src/engine/blas.js';
import type { ModelConfig } from '../src/engine/config.js';
import { initWeights } from '../src/engine/init.js';
import { loadModel } from '../src/engine/io/load.js';
import { writeSafetensors } from '../src/engine/io/safetensors.js';
import { hfConfigJson, saveHfModel } from '../src/engine/io/save.js';
import { attachLora } from '../src/engine/lora.js';
import { CausalLM, LINEAR_NAMES } from '../src/engine/model.js';
import { gemmGflops, portableBackend, rawSgemmGflops } from './lib/gemm.js';
import { measured, selfPeakMiB } from './lib/peak-rss.js';
import { referencePython } from './lib/venv.js';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench/out');
const GGUF = join(ROOT, '.cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
const SMOL_F32 = join(ROOT, '.cache/models/smollm2-f32');
const QWEN05 = join(ROOT, '.cache/models/qwen2.5-0.5b-shapes');
const THREADS = () => blasInfo().threads ?? 2;

/** Qwen2.5-0.5B's architecture (config.json of Qwen/Qwen2.5-0.5B), with random weights. */
const QWEN05_CONFIG: ModelConfig = {
  architecture: 'qwen2',
  vocabSize: 151936,
  hiddenSize: 896,
  intermediateSize: 4864,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  rmsNormEps: 1e-6,
  ropeTheta: 1000000,
  maxPositionEmbeddings: 32768,
  tieWordEmbeddings: true,
  attentionBias: true,
  eosTokenIds: [151643],
};

const B = 8;
const T = 256;
const HALF = 128;
/** Timed LoRA forward + backward passes per side (after a warm-up); the best is reported (bench/ref/hf_peft_engine_ref.py's REPS). */
const LORA_REPS = 3;
const sequences = (V: number) => Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, j) => ((7 * j + 13 * b) % Math.min(4000, V - 100)) + 100));

/** FLOPs of the LoRA forward + backward (inputs' gradients only; adapters ~1% more, recomputation not counted). */
function loraStepFlops(c: ModelConfig): number {
  const Hd = c.numHeads * c.headDim;
  const Gd = c.numKvHeads * c.headDim;
  const linear = 2 * (c.hiddenSize * (Hd + 2 * Gd) + Hd * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize) * c.numLayers * B * T;
  const attention = 2 * 2 * ((T * (T + 1)) / 2) * c.headDim * c.numHeads * c.numLayers * B;
  const head = 2 * c.hiddenSize * c.vocabSize * HALF * B;
  // backward: dX through every linear and the LM head as the forward; attention's backward twice its forward
  return linear + attention + head + (linear + 2 * attention + head);
}

async function modelFor(which: string): Promise<CausalLM> {
  if (which === 'smollm2') {
    const l = await loadModel(GGUF);
    return new CausalLM(l.config, l.weights);
  }
  const l = await loadModel(QWEN05);
  return new CausalLM(l.config, l.weights);
}

async function childLora(which: string): Promise<void> {
  const m = await modelFor(which);
  const params = attachLora(m, { r: 16, alpha: 32, dropout: 0, targetModules: [...LINEAR_NAMES] }, 0);
  for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.01 * Math.sin(i);
  const groups: GroupInput[] = sequences(m.config.vocabSize).map((s) => ({ prompt: s.slice(0, HALF), completions: [s.slice(HALF)] }));
  const batch = packGroups(groups);
  const g = new Float32Array(B * HALF).fill(-1 / (B * HALF));
  const run = () => {
    // every activation kept, as transformers + PEFT keep them (no gradient checkpointing on either side)
    const { tape } = m.forward(batch, { adapter: true, temperature: 1, keep: 'all' });
    m.backward(tape!, g);
  };
  run(); // warm-up: arena buffers, JIT
  // best of LORA_REPS timed passes, as the reference's side: the machine's speed varies from minute to minute
  let seconds = Infinity;
  for (let r = 0; r < LORA_REPS; r++) {
    const t = performance.now();
    run();
    seconds = Math.min(seconds, (performance.now() - t) / 1000);
  }
  console.log(JSON.stringify({ seconds, flops: loraStepFlops(m.config), peakMiB: selfPeakMiB() }));
}

async function childDecode(): Promise<void> {
  const m = await modelFor('smollm2');
  const prompt = Array.from({ length: 256 }, (_, i) => 100 + i);
  m.prefill(prompt, false, false);
  let t = performance.now();
  m.prefill(prompt, false, false);
  const prefill = 256 / ((performance.now() - t) / 1000);
  const rate = (Bd: number) => {
    const state = m.prefill([5], false, false);
    const cache = m.newDecodeCache(Bd, 64);
    const logits = new Float32Array(Bd * m.config.vocabSize);
    const seqs = (s: number) => Array.from({ length: Bd }, (_, b) => ({ prefix: state, slot: b, t: s }));
    let h = m.decodeStep(Array(Bd).fill(5), seqs(0), cache, false);
    const steps = 32;
    t = performance.now();
    for (let s = 0; s < steps; s++) {
      m.logits(h, Bd, logits);
      h = m.decodeStep(Array(Bd).fill(7), seqs(s + 1), cache, false);
    }
    return (Bd * steps) / ((performance.now() - t) / 1000);
  };
  console.log(JSON.stringify({ prefill_tok_s: prefill, decode_b1_tok_s: rate(1), decode_b8_tok_s: rate(8), peakMiB: selfPeakMiB() }));
}

function runChild(args: string[]): Record<string, number> & { measuredPeakMiB: number } {
  const r = measured(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/engine.ts'), '--child', ...args], { cwd: ROOT });
  if (r.status !== 0) throw new Error(`engine child ${args.join(' ')} failed: ${r.stderr.slice(-1500)}`);
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>), measuredPeakMiB: r.peakMiB };
}

function runRef(python: string, dir: string, what: string): (Record<string, number> & { measuredPeakMiB: number }) | string {
  const threads = String(THREADS());
  const r = measured(python, [join(ROOT, 'bench/ref/hf_peft_engine_ref.py'), dir, threads, what], { cwd: ROOT, env: { ...process.env, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads } });
  if (r.status !== 0) return `failed: ${r.stderr.trim().split('\n').slice(-1)[0]}`;
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>), measuredPeakMiB: r.peakMiB };
}

async function ensureModels(): Promise<void> {
  if (!existsSync(join(SMOL_F32, 'model.safetensors'))) {
    const l = await loadModel(GGUF);
    saveHfModel(SMOL_F32, new CausalLM(l.config, l.weights), l.tokenizer);
  }
  if (!existsSync(join(QWEN05, 'model.safetensors'))) {
    mkdirSync(QWEN05, { recursive: true });
    writeSafetensors(join(QWEN05, 'model.safetensors'), initWeights(QWEN05_CONFIG, 0), { format: 'pt' });
    writeFileSync(join(QWEN05, 'config.json'), JSON.stringify(hfConfigJson(QWEN05_CONFIG), null, 2));
    // the engine's loader wants a tokenizer; SmolLM2's serves (token ids are all this benchmark uses)
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(SMOL_F32, f), join(QWEN05, f));
  }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--child');
  if (at >= 0) {
    const [kind, which] = process.argv.slice(at + 1);
    return kind === 'lora' ? childLora(which!) : childDecode();
  }
  if (!existsSync(GGUF)) throw new Error('test model missing: bash scripts/fetch-test-model.sh');
  mkdirSync(OUT, { recursive: true });
  const lines: string[] = [];
  const log = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  log(`bench:engine — ${blasDescription()}`);
  await ensureModels();

  // ------------------------------------------------------------ GEMM vs C
  const C_SRC = `#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void cblas_sgemm(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
int main(int argc, char** argv) { int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]), reps = atoi(argv[4]);
  float *a = malloc(4L*m*k), *b = malloc(4L*n*k), *c = malloc(4L*m*n);
  for (long i = 0; i < (long)m*k; i++) a[i] = (i % 13) * 0.01f; for (long i = 0; i < (long)n*k; i++) b[i] = (i % 7) * 0.01f;
  cblas_sgemm(101, 111, 112, m, n, k, 1, a, k, b, k, 0, c, n);
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int r = 0; r < reps; r++) cblas_sgemm(101, 111, 112, m, n, k, 1, a, k, b, k, 0, c, n);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9; printf("%f\\n", 2.0*m*n*k*reps/s/1e9); return 0; }`;
  const lib = ['/usr/lib/x86_64-linux-gnu/libopenblas.so.0', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0'].find(existsSync);
  if (lib && blasInfo().backend === 'openblas') {
    const cFile = join(OUT, 'gemm.c');
    const exe = join(OUT, 'gemm');
    writeFileSync(cFile, C_SRC);
    execFileSync('gcc', ['-O2', cFile, lib, '-o', exe]);
    log('GEMM (M×N×K, x·Wᵀ)            engine GFLOP/s   C+OpenBLAS GFLOP/s   ratio');
    for (const [m, n, k] of [[256, 1536, 576], [256, 576, 1536], [256, 576, 576], [256, 192, 576], [8, 49152, 576]] as [number, number, number][]) {
      const a = Float32Array.from({ length: m * k }, (_, i) => (i % 13) * 0.01);
      const b = Float32Array.from({ length: n * k }, (_, i) => (i % 7) * 0.01);
      const c = new Float32Array(m * n);
      const reps = Math.max(3, Math.round(2e10 / (2 * m * n * k)));
      sgemm(false, true, m, n, k, 1, a, b, 0, c);
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) sgemm(false, true, m, n, k, 1, a, b, 0, c);
      const ours = (2 * m * n * k * reps) / ((performance.now() - t0) / 1000) / 1e9;
      const theirs = Number(execFileSync(exe, [String(m), String(n), String(k), String(reps)]).toString());
      log(`  ${`${m}×${n}×${k}`.padEnd(28)} ${ours.toFixed(1).padStart(10)} ${theirs.toFixed(1).padStart(18)} ${(ours / theirs).toFixed(2).padStart(9)}`);
    }
  }
  const raw = rawSgemmGflops();
  log(`raw sgemm (best of 2048-row products of layer shapes): ${raw.toFixed(1)} GFLOP/s`);
  const portable = portableBackend();
  if (portable) {
    await portable.prepare?.();
    const shape = { m: 256, n: 1536, k: 576, transB: true };
    log(`portable WebAssembly GEMM (SQLRL_BLAS=none), 256×1536×576: ${gemmGflops(shape, portable.fn).toFixed(1)} GFLOP/s against ${gemmGflops(shape).toFixed(1)} for the active sgemm`);
  }

  const ref = referencePython();
  const py = 'python' in ref ? ref.python : null;
  if (!py) log(`transformers + PEFT reference: skipped (${'skipped' in ref ? ref.skipped : ''})`);

  // ------------------------------------------------------------ prefill / decode
  const dec = runChild(['decode']);
  const hfDec = py ? runRef(py, SMOL_F32, 'decode') : null;
  log(`SmolLM2-135M float32, ${THREADS()} threads                 engine    transformers   engine ÷ transformers`);
  for (const [label, key] of [
    ['prefill 256 tokens (tok/s)', 'prefill_tok_s'],
    ['decode batch 1 (tok/s)', 'decode_b1_tok_s'],
    ['decode batch 8 (tok/s)', 'decode_b8_tok_s'],
  ] as const) {
    const theirs = hfDec && typeof hfDec !== 'string' ? hfDec[key]! : null;
    log(`  ${label.padEnd(34)} ${dec[key]!.toFixed(1).padStart(8)} ${theirs === null ? '           –' : theirs.toFixed(1).padStart(12)} ${theirs === null ? '' : (dec[key]! / theirs).toFixed(2).padStart(10)}`);
  }
  if (typeof hfDec === 'string') log(`  transformers: ${hfDec}`);

  // ------------------------------------------------------------ LoRA forward + backward
  log(`LoRA r16 (7 projections), ${B} × ${T} tokens, loss on the last ${HALF}: forward + backward`);
  log(`  model                    engine s   GFLOP/s  % of raw sgemm   transformers+PEFT s   engine ÷ PEFT   peak RSS engine / PEFT`);
  for (const [label, which, dir] of [
    ['SmolLM2-135M', 'smollm2', SMOL_F32],
    ['Qwen2.5-0.5B shapes', 'qwen05', QWEN05],
  ] as const) {
    const ours = runChild(['lora', which]);
    const theirs = py ? runRef(py, dir, 'lora') : null;
    const gf = ours.flops! / ours.seconds! / 1e9;
    const peft = theirs && typeof theirs !== 'string' ? theirs : null;
    log(
      `  ${label.padEnd(22)} ${ours.seconds!.toFixed(2).padStart(9)} ${gf.toFixed(1).padStart(9)} ${((100 * gf) / raw).toFixed(0).padStart(12)}% ${peft ? peft.fwd_bwd_s!.toFixed(2).padStart(20) : '                   –'} ${peft ? (ours.seconds! / peft.fwd_bwd_s!).toFixed(2).padStart(14) : ''} ${ours.measuredPeakMiB.toFixed(0).padStart(12)} / ${peft ? peft.measuredPeakMiB.toFixed(0) : '–'} MiB`,
    );
    if (typeof theirs === 'string') log(`    transformers+PEFT: ${theirs}`);
    if (peft) {
      // the same arithmetic in PEFT's time: half its time needs twice its rate, which past 100% of raw sgemm no engine reaches
      const theirShare = (100 * ours.flops!) / peft.fwd_bwd_s! / 1e9 / raw;
      log(`    transformers+PEFT did this arithmetic at ${theirShare.toFixed(0)}% of raw sgemm: ≤ 0.5× its time needs ${(2 * theirShare).toFixed(0)}%`);
    }
  }
  log(`  goals: ≥ 50% of raw sgemm; engine ≤ 0.5× transformers+PEFT`);
  writeFileSync(join(OUT, 'engine.txt'), lines.join('\n') + '\n');
}

await main();
