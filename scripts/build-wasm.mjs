// Builds the WebAssembly kernels (AssemblyScript) into dist/engine/wasm/: the portable GEMM
// (src/engine/wasm/assembly/gemm.ts) as gemm-simd.wasm (SIMD, mul + add) and gemm-relaxed.wasm (relaxed
// SIMD: fused multiply-add), and the row kernels (assembly/rows.ts: softmax rows, SwiGLU, RMSNorm,
// log-sum-exp, AdamW) as rows.wasm, which every BLAS path uses. Run by `npm run build:wasm`, which
// `prepare` (so `npm ci`) runs. Build output, not in git.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/engine/wasm');
mkdirSync(out, { recursive: true });
for (const [source, name, features] of [
  ['gemm.ts', 'gemm-simd.wasm', 'simd,threads'],
  ['gemm.ts', 'gemm-relaxed.wasm', 'simd,threads,relaxed-simd'],
  ['rows.ts', 'rows.wasm', 'simd,threads'],
]) {
  // no runtime (the kernels never allocate); memory imported and shared (the GEMM's helper threads; the
  // row kernels' views stay valid when it grows)
  const { error, stderr } = await asc.main([join(root, 'src/engine/wasm/assembly', source), '--outFile', join(out, name), '--enable', features, '--runtime', 'stub', '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert', '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536']);
  if (error) {
    process.stderr.write(stderr.toString());
    throw new Error(`build-wasm: ${name}: ${error.message}`);
  }
}
console.log(`build-wasm: ${out}/gemm-simd.wasm, gemm-relaxed.wasm, rows.wasm`);
