// `npm run bench:portable` — `sqlrl demo` at reduced sizes (--sft-steps 150 --grpo-steps 10
// --eval-limit 20) on the portable path (SQLRL_BLAS=none: the WebAssembly SIMD GEMM) and on the system
// BLAS, one after the other in this script: wall time of each, their ratio (goal: portable within 3×),
// and the true peak RSS of each run (the largest process of its tree, bench/lib/peak-rss.ts).
// Builds first (npm run build: the kernel and dist/, which bin/sqlrl.js runs). Results also go to
// bench/out/portable.txt.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { measured } from './lib/peak-rss.js';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });
const DEMO_ARGS = ['--sft-steps', '150', '--grpo-steps', '10', '--eval-limit', '20', '--quiet', '--force'];

const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  console.log(s);
};

execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
log(`bench:portable — node bin/sqlrl.js demo ${DEMO_ARGS.join(' ')} (2 runs, one after the other)`);
const load = () => `load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`;
log(`start: ${load()}`);

interface Run {
  label: string;
  seconds: number;
  peakMiB: number;
  blas: string;
  ex: string;
}
function demo(label: string, env: Record<string, string>): Run {
  const output = join(OUT, `portable-${label}`);
  const r = measured(process.execPath, [join(ROOT, 'bin/sqlrl.js'), 'demo', ...DEMO_ARGS, '--output', output], { cwd: ROOT, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`demo (${label}) exited ${r.status}: ${r.stderr.slice(-2000)}`);
  // the startup line of the first training command says which GEMM ran
  const blas = /BLAS: (.*)/.exec(r.stderr)?.[1] ?? '?';
  const ex = /^all\s+\d+\s+(.*)$/m.exec(r.stdout)?.[1]?.trim() ?? '?';
  log(`  ${label} run done: ${load()}`);
  return { label, seconds: r.seconds, peakMiB: r.peakMiB, blas, ex };
}

const portable = demo('portable', { SQLRL_BLAS: 'none' });
const native = demo('system', {});
if (/^(portable|scalar)/.test(native.blas)) log(`note: no system BLAS on this machine (${native.blas}); the reference run is not a system BLAS`);
for (const r of [portable, native]) {
  log(`\n${r.label === 'portable' ? 'SQLRL_BLAS=none' : 'system BLAS'}: ${r.blas}`);
  log(`  wall ${r.seconds.toFixed(1)} s, peak RSS ${r.peakMiB.toFixed(0)} MiB; held-out EX (SFT, +GRPO) ${r.ex}`);
}
log(`\nportable ÷ system BLAS wall time: ${(portable.seconds / native.seconds).toFixed(2)}× (goal ≤ 3×)`);
writeFileSync(join(OUT, 'portable.txt'), `${lines.join('\n')}\n`);
