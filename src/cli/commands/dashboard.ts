// `sqlrl dashboard RUN_DIR...`: serve the live training dashboard for one or more run directories.
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';
import { onStopSignals } from '../../signals.js';

export const DashboardOptions = z.object({
  runDirs: z.array(z.string()).min(1).describe('run directories (written by sqlrl train / sqlrl sft)'),
  host: z.string().default('127.0.0.1').describe('address to listen on'),
  port: z.number().int().min(0).max(65535).default(6006).describe('port to listen on (0 picks a free one)'),
  pollMs: z.number().int().positive().default(500).describe('how often run files are checked for new lines (ms)'),
});

export function register(program: Command): void {
  const cmd = program
    .command('dashboard')
    .argument('<run-dirs...>', 'run directories to show, overlaid')
    .description('Serve a live local web page of training runs: curves, reward components, and the sampled SQL.');
  addSchemaOptions(cmd, DashboardOptions, { positional: ['runDirs'] });
  cmd.action(async (runDirs: string[]) => {
    const opts = resolveOptions(cmd, DashboardOptions, { runDirs });
    const missing = opts.runDirs.filter((d) => !existsSync(d));
    if (missing.length === opts.runDirs.length) throw new UsageError(`run directory '${missing[0]}' does not exist (pass the output dir of sqlrl train)`);
    const { startDashboard } = await import('../../serve/dashboard/server.js'); // Fastify only when serving
    const dash = await startDashboard(opts);
    process.stderr.write(`sqlrl dashboard: ${dash.url} (Ctrl-C to stop)\n`);
    for (const d of missing) process.stderr.write(`sqlrl dashboard: warning: '${d}' does not exist yet; it will show once written\n`);
    const stop = onStopSignals(() => {});
    await stop.stopped;
    await dash.close();
  });
}
