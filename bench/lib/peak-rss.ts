// True peak resident memory for benchmarks: the kernel's high-water marks, not a sample of current RSS.
//  - this process: getrusage(RUSAGE_SELF).ru_maxrss (process.resourceUsage().maxRSS);
//  - a group of helper processes that come and go: `sampleGroupPeak()` (VmHWM of each, summed);
//  - a child process tree: `measured()` wraps a command so the kernel's ru_maxrss of its waited-for
//    children is read when it ends (the largest single process of the tree, as GNU time's %M reports).
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MiB = 2 ** 20;

/** Peak RSS of this Node process so far, in MiB. */
export function selfPeakMiB(): number {
  return (process.resourceUsage().maxRSS * 1024) / MiB;
}

/**
 * Runs `cmd args` to completion and returns its output, wall seconds and peak RSS (MiB): the largest
 * ru_maxrss of the command and its descendants, read by a Python shim through os.wait4.
 */
export function measured(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { status: number | null; stdout: string; stderr: string; seconds: number; peakMiB: number } {
  const shim = `import os, sys, time, resource
t = time.perf_counter()
pid = os.spawnvp(os.P_NOWAIT, sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write("\\n@@measured %f %d %d\\n" % (time.perf_counter() - t, max(ru.ru_maxrss, kids), os.waitstatus_to_exitcode(status)))
sys.exit(0)`;
  const r = spawnSync('python3', ['-c', shim, cmd, ...args], { maxBuffer: 1 << 30, ...opts, encoding: 'utf8' });
  const stderr = String(r.stderr ?? '');
  const m = /\n@@measured ([\d.]+) (\d+) (-?\d+)\n$/.exec(stderr);
  if (!m) throw new Error(`measured(${cmd}): no measurement (${stderr.slice(-300)})`);
  return { status: Number(m[3]), stdout: String(r.stdout ?? ''), stderr: stderr.slice(0, m.index), seconds: Number(m[1]), peakMiB: (Number(m[2]) * 1024) / MiB };
}

/** VmHWM (the kernel's peak resident set) of a live process in MiB, from /proc (Linux); 0 when unreadable. */
export function processPeakMiB(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Peak memory of this process plus a changing set of helper processes (e.g. sandbox workers, which come and
 * go): every `everyMs` the VmHWM of each live helper is summed with this process's; the largest sum is kept.
 * Each VmHWM is that process's true peak, so a sample bounds the set's memory at that moment from above;
 * a helper that lives and dies between two samples is missed.
 */
export function sampleGroupPeak(pids: () => number[], everyMs = 50): { stop(): { peakMiB: number; peakProcesses: number } } {
  let peakMiB = 0;
  let peakProcesses = 0;
  const sample = () => {
    const live = pids();
    peakProcesses = Math.max(peakProcesses, live.length);
    peakMiB = Math.max(peakMiB, selfPeakMiB() + live.reduce((s, pid) => s + processPeakMiB(pid), 0));
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  sample();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakMiB, peakProcesses };
    },
  };
}
