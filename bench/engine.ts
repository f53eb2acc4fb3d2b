// `npm run bench:engine` — the CPU engine against references run in the same script:
//  - GEMM on SmolLM2's shapes: the engine's sgemm (koffi → OpenBLAS) vs a C program calling OpenBLAS directly;
//  - SmolLM2-135M prefill (256 tokens) and decode (batch 1 and 8) tokens/s vs PyTorch float32, same threads;
//  - batch-1 decode vs the memory-bandwidth limit (weight bytes per token ÷ measured GB/s);
//  - LoRA (r16, all projections) forward+backward on 8 × 256 tokens vs PyTorch, and peak RSS;
//  - peak RSS of loading the GGUF (→ float32) vs the float32 weights' size.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { blasDescription, blasInfo, sgemm } from '../src/engine/blas.js';
import { saveHfModel } from '../src/engine/io/save.js';
import { attachLora } from '../src/engine/lora.js';
import { packGroups } from '../src/engine/batch.js';
import { CausalLM } from '../src/engine/model.js';
import { CpuPolicy } from '../src/engine/policy.js';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });
const GGUF = join(ROOT, '.cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
const F32 = join(ROOT, '.cache/models/smollm2-f32');
if (!existsSync(GGUF)) {
  console.error('test model missing: bash scripts/fetch-test-model.sh');
  process.exit(1);
}
const lines: string[] = [`bench:engine — ${blasDescription()}`];
const log = (s: string) => {
  lines.push(s);
  console.log(s);
};

// ---------------------------------------------------------------- GEMM vs C
const shapes: [number, number, number][] = [[256, 1536, 576], [256, 576, 1536], [256, 576, 576], [256, 192, 576], [8, 49152, 576]];
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
const cFile = join(OUT, 'gemm.c');
const exe = join(OUT, 'gemm');
writeFileSync(cFile, C_SRC);
const lib = ['/usr/lib/x86_64-linux-gnu/libopenblas.so.0', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0'].find(existsSync);
if (lib && blasInfo().backend === 'openblas') {
  execFileSync('gcc', ['-O2', cFile, lib, '-o', exe]);
  log('GEMM (M×N×K, x·Wᵀ)            engine GFLOP/s   C+OpenBLAS GFLOP/s   ratio');
  for (const [m, n, k] of shapes) {
    const a = Float32Array.from({ length: m * k }, (_, i) => (i % 13) * 0.01);
    const b = Float32Array.from({ length: n * k }, (_, i) => (i % 7) * 0.01);
    const c = new Float32Array(m * n);
    const reps = Math.max(3, Math.round(2e10 / (2 * m * n * k)));
    sgemm(false, true, m, n, k, 1, a, b, 0, c);
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) sgemm(false, true, m, n, k, 1, a, b, 0, c);
    const ours = (2 * m * n * k * reps) / ((performance.now() - t0) / 1000) / 1e9;
    const theirs = Number(execFileSync(exe, [String(m), String(n), String(k), String(reps)], { env: { ...process.env } }).toString());
    log(`  ${`${m}×${n}×${k}`.padEnd(28)} ${ours.toFixed(1).padStart(10)} ${theirs.toFixed(1).padStart(18)} ${(ours / theirs).toFixed(2).padStart(9)}`);
  }
}

// ---------------------------------------------------------------- memory bandwidth (for the decode roofline)
const big = new Float32Array(64 << 20);
const dst = new Float32Array(64 << 20);
big.fill(1);
let best = 0;
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  dst.set(big);
  best = Math.max(best, (2 * big.byteLength) / ((performance.now() - t0) / 1000) / 1e9);
}
log(`memory bandwidth (copy, read+write): ${best.toFixed(1)} GB/s`);

// ---------------------------------------------------------------- load
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const policy = await CpuPolicy.load(GGUF);
const loadS = (performance.now() - t0) / 1000;
const model = policy.model as CausalLM;
const weightBytes = 4 * (model.embed.length + model.layers.reduce((s, L) => s + Object.values(L.lin).reduce((a, l) => a + l.w.length, 0) + 2 * L.inNorm.length, 0));
log(`load SmolLM2 Q4_1 GGUF → float32: ${loadS.toFixed(2)} s, RSS +${((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)} MiB for ${(weightBytes / 2 ** 20).toFixed(0)} MiB of float32 weights (${((process.memoryUsage().rss - rss0) / weightBytes).toFixed(2)}x)`);
if (!existsSync(join(F32, 'model.safetensors'))) saveHfModel(F32, model, policy.tokenizer);

// ---------------------------------------------------------------- prefill / decode
const prompt = Array.from({ length: 256 }, (_, i) => 100 + i);
let t = performance.now();
model.prefill(prompt, false, false);
const prefill = 256 / ((performance.now() - t) / 1000);
const decodeRate = (B: number) => {
  const state = model.prefill([5], false, false);
  const cache = model.newDecodeCache(B, 64);
  const logits = new Float32Array(B * 49152);
  const seqs = (t: number) => Array.from({ length: B }, (_, b) => ({ prefix: state, slot: b, t }));
  let h = model.decodeStep(Array(B).fill(5), seqs(0), cache, false);
  const steps = 32;
  const s0 = performance.now();
  for (let s = 0; s < steps; s++) {
    model.logits(h, B, logits);
    h = model.decodeStep(Array(B).fill(7), seqs(s + 1), cache, false);
  }
  return (B * steps) / ((performance.now() - s0) / 1000);
};
const d1 = decodeRate(1);
const d8 = decodeRate(8);
const threads = blasInfo().threads ?? 2;
// same BLAS kernel for PyTorch: Debian's torch goes through libblas.so.3 → OpenBLAS, which needs the same core type
const ref = JSON.parse(
  execFileSync('/usr/bin/python3', [join(ROOT, 'bench/ref/torch_engine_ref.py'), F32, String(threads)], { maxBuffer: 1 << 24, env: { ...process.env, OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? 'SkylakeX', OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) } }).toString(),
) as Record<string, number>;
log(`SmolLM2-135M float32, ${threads} threads, same OpenBLAS kernel   engine     PyTorch 1.13    ratio`);
log(`  prefill 256 tokens (tok/s)        ${prefill.toFixed(0).padStart(8)} ${ref.prefill_tok_s!.toFixed(0).padStart(12)} ${(prefill / ref.prefill_tok_s!).toFixed(2).padStart(8)}`);
log(`  decode batch 1 (tok/s)            ${d1.toFixed(1).padStart(8)} ${ref.decode_b1_tok_s!.toFixed(1).padStart(12)} ${(d1 / ref.decode_b1_tok_s!).toFixed(2).padStart(8)}`);
log(`  decode batch 8 (tok/s)            ${d8.toFixed(1).padStart(8)} ${ref.decode_b8_tok_s!.toFixed(1).padStart(12)} ${(d8 / ref.decode_b8_tok_s!).toFixed(2).padStart(8)}`);
const roof = (best * 1e9) / weightBytes;
log(`  batch-1 decode vs bandwidth limit: ${d1.toFixed(1)} of ${roof.toFixed(1)} tok/s (${((100 * d1) / roof).toFixed(0)}%)`);

// ---------------------------------------------------------------- LoRA forward + backward
const params = attachLora(model, { r: 16, alpha: 32, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }, 0);
for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.01 * Math.sin(i);
const seqs = Array.from({ length: 8 }, (_, b) => Array.from({ length: 256 }, (_, j) => ((7 * j + 13 * b) % 4000) + 100));
t = performance.now();
for (const s of seqs) {
  const { tape } = model.forward(packGroups([{ prompt: s.slice(0, 128), completions: [s.slice(128)] }]), { adapter: true, temperature: 1, keep: 'all' });
  model.backward(tape!, new Float32Array(128).fill(-1 / (128 * 8)));
}
const fb = (performance.now() - t) / 1000;
const rss = process.memoryUsage().rss / 2 ** 20;
log(`LoRA r16 (all 7 projections), 8 × 256 tokens, forward+backward: engine ${fb.toFixed(2)} s, PyTorch ${ref.fwd_bwd_s!.toFixed(2)} s, ratio ${(fb / ref.fwd_bwd_s!).toFixed(2)} (≤ 1 is faster)`);
log(`  peak RSS: engine ${rss.toFixed(0)} MiB (process, model loaded), PyTorch ${ref.peak_rss_mib!.toFixed(0)} MiB`);
writeFileSync(join(OUT, 'engine.txt'), lines.join('\n') + '\n');
