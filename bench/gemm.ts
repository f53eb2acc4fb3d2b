// `npm run bench:gemm` — GFLOP/s of every GEMM backend this machine has, at SmolLM2-135M's shapes and
// the demo model's, against the system BLAS measured in the same run: the portable WebAssembly kernel
// on all threads and on one, and the scalar TypeScript loop. Results also go to bench/out/gemm.txt.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { blasDescription } from '../src/engine/blas.js';
import { compareGflops, demoShapes, gemmBackends, smollm2Shapes } from './lib/gemm.js';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });
/** The scalar loop runs ~1-2 GFLOP/s: products above this many flops are left out for it. */
const JS_MAX_FLOPS = 2e8;

const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  console.log(s);
};
const backends = gemmBackends();
const reference = backends[0]!;
log(`bench:gemm — active: ${blasDescription()}`);
log(`load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores at the start (other processes share the cores)`);
log(`GFLOP/s, best of 3 batches interleaved across backends; ratio = backend ÷ ${reference.name} in this run\n`);
const head = ['shape (M×N×K, op)', ...backends.map((b) => b.name)];
log(`${head[0]!.padEnd(44)}${head.slice(1).map((h) => h.padStart(24)).join('')}`);
const ratios = new Map<string, number[]>();
for (const shape of [...smollm2Shapes(), ...demoShapes()]) {
  // the scalar loop is left out of the largest products (it would take seconds each)
  const here = backends.filter((b) => !b.name.startsWith('js') || 2 * shape.m * shape.n * shape.k <= JS_MAX_FLOPS);
  const g = await compareGflops(shape, here);
  const ref = g[0]!;
  const cells = backends.map((backend) => {
    const i = here.indexOf(backend);
    if (i < 0) return '—'.padStart(24);
    if (i === 0) return ref.toFixed(1).padStart(24);
    const ratio = g[i]! / ref;
    ratios.set(backend.name, [...(ratios.get(backend.name) ?? []), ratio]);
    return `${g[i]!.toFixed(1)} (${ratio.toFixed(2)}×)`.padStart(24);
  });
  const op = `${shape.transA ? 'Aᵀ' : 'A'}·${shape.transB ? 'Bᵀ' : 'B'}`;
  log(`${`${shape.m}×${shape.n}×${shape.k} ${op} ${shape.label ?? ''}`.slice(0, 43).padEnd(44)}${cells.join('')}`);
}
log('');
for (const [name, rs] of ratios) {
  const geo = Math.exp(rs.reduce((s, r) => s + Math.log(r), 0) / rs.length);
  log(`${name}: geometric mean ${geo.toFixed(2)}× ${reference.name} over ${rs.length} shapes`);
}
writeFileSync(join(OUT, 'gemm.txt'), `${lines.join('\n')}\n`);
process.exit(0); // helper threads are unref'd; exit now rather than wait for the event loop to drain
