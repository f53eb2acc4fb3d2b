// What a run shows while it works: a progress bar on a terminal (a line every ~10% otherwise), the live
// dashboard when asked, and `say` lines on stderr.
import cliProgress from 'cli-progress';

export const say = (cmd: string) => (s: string) => process.stderr.write(`sqlrl ${cmd}: ${s}\n`);

export function stepBar(total: number, quiet: boolean, label: string): { update(step: number, text: string): void; stop(): void } {
  if (quiet || !process.stderr.isTTY) {
    let last = 0;
    return {
      update(step, text) {
        if (step === total || step - last >= Math.max(1, Math.round(total / 10))) {
          last = step;
          if (!quiet) process.stderr.write(`${label} ${step}/${total} ${text}\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} | {text} | {eta_formatted} left`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { text: '' });
  return { update: (step, text) => bar.update(step, { text }), stop: () => bar.stop() };
}

export async function maybeDashboard(enabled: boolean, dir: string, port: number): Promise<{ close(): Promise<void> } | null> {
  if (!enabled) return null;
  const { startDashboard } = await import('../serve/dashboard/server.js');
  const d = await startDashboard({ runDirs: [dir], host: '127.0.0.1', port, pollMs: 500 });
  process.stderr.write(`sqlrl: dashboard at ${d.url}\n`);
  return d;
}
