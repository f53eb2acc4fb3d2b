// Optional tools of the test suite (PyTorch, numpy, jinja2, pyarrow, Chromium, the test model, Spider).
// On a bare machine a test that needs one is skipped with a one-line reason naming the install; with
// SQLRL_REQUIRE_ALL=1 (set by .ci/run) nothing is skipped, so a missing tool fails the test that needs it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const REQUIRE_ALL = process.env.SQLRL_REQUIRE_ALL === '1';

const PYTHONS = ['python3', '/usr/bin/python3'];
const pythonCache = new Map<string, string | null>();

/** The first python3 (PATH's, then Debian's, which is where apt's python3-torch lives) that imports every module; null if none. */
export function pythonWith(...modules: string[]): string | null {
  const key = modules.join(',');
  if (!pythonCache.has(key)) {
    const code = modules.map((m) => `import ${m}`).join('; ') || 'pass';
    pythonCache.set(key, PYTHONS.find((py) => spawnSync(py, ['-c', code], { stdio: 'ignore' }).status === 0) ?? null);
  }
  return pythonCache.get(key)!;
}

/** The python3 for a test that needs these modules (under SQLRL_REQUIRE_ALL a missing one fails at use). */
export function python(...modules: string[]): string {
  return pythonWith(...modules) ?? 'python3';
}

const INSTALL: Record<string, string> = {
  torch: 'pip install torch (or apt-get install python3-torch)',
  numpy: 'pip install numpy (or apt-get install python3-numpy)',
  jinja2: 'pip install jinja2',
  pyarrow: 'pip install pyarrow',
};

/** A `skip` value for node:test: false when the Python modules import (no modules: when python3 runs), else a one-line reason. */
export function skipUnlessPython(...modules: string[]): string | false {
  if (REQUIRE_ALL || pythonWith(...modules)) return false;
  if (!pythonWith()) return 'needs python3: apt-get install python3';
  const missing = modules.filter((m) => !pythonWith(m));
  // each module imports on some python3 but no one python3 has them all
  if (!missing.length) return `needs one python3 with ${modules.join(', ')}: ${modules.map((m) => INSTALL[m] ?? `pip install ${m}`).join('; ')}`;
  return `needs python3 with ${missing.join(', ')}: ${missing.map((m) => INSTALL[m] ?? `pip install ${m}`).join('; ')}`;
}

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p)) ?? null;

/** A `skip` value: false when Chromium is installed, else a one-line reason. */
export function skipUnlessChromium(): string | false {
  if (REQUIRE_ALL || CHROMIUM) return false;
  return 'needs Chromium: apt-get install chromium';
}

/** A `skip` value for a condition that is otherwise met by set-up (test model, Spider data). */
export function skipUnless(have: boolean, reason: string): string | false {
  return REQUIRE_ALL || have ? false : reason;
}
