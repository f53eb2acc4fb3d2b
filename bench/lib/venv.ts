// The Python reference environment of the benchmarks that run PyTorch, transformers, PEFT or TRL beside
// sqlrl: the same venv as the opt-in end-to-end scripts (scripts/e2e/lib.sh's ensure_venv: trl and peft
// at the pinned versions, torch), made once. Returns its python, or why it is unavailable.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export function referencePython(): { python: string } | { skipped: string } {
  if (process.env.SQLRL_BENCH_REFERENCE === '0') return { skipped: 'SQLRL_BENCH_REFERENCE=0' };
  const lib = join(ROOT, 'scripts/e2e/lib.sh');
  if (!existsSync(lib)) return { skipped: `${lib} missing` };
  const r = spawnSync('bash', ['-c', `source "${lib}" && ensure_venv >&2 && echo "$PY"`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const py = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !existsSync(py)) return { skipped: 'the reference venv could not be made (pip install torch transformers peft trl failed: no PyPI?)' };
  return { python: py };
}
