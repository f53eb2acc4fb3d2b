// `sqlrl serve`: the reward server (batch JSON API + OpenRLHF's remote reward protocol) over a dataset.
import { Command } from 'commander';
import { z } from 'zod';
import { SqlExecutor } from '../../sql/executor.js';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';
import { loadRewardConfig } from '../../reward/config.js';
import { PRESETS } from '../../reward/presets.js';
import { DatasetFields, loadExamples } from './eval.js';

export const ServeOptions = z.object({
  ...DatasetFields,
  reward: z.string().default('arctic').describe(`reward preset (${Object.keys(PRESETS).join(', ')}) or a YAML file with {preset?, mode?, components?}`),
  mode: z.enum(['spider', 'bird', 'strict']).optional().describe("result comparison mode (default: the preset's)"),
  host: z.string().default('127.0.0.1').describe('address to listen on (0.0.0.0 for other machines)'),
  port: z.number().int().min(0).max(65535).default(8000).describe('port (0 picks a free one)'),
  token: z.string().optional().describe('require Authorization: Bearer TOKEN (default: $SQLRL_TOKEN if set)'),
  timeout: z.number().positive().default(30).describe('per-query timeout in seconds'),
  workers: z.number().int().positive().optional().describe('sandbox worker processes (default: one per core)'),
});

export function register(program: Command): void {
  const cmd = program.command('serve').description('Serve rewards over HTTP: POST /v1/rewards (batch JSON) and POST /get_reward (OpenRLHF remote reward).');
  addSchemaOptions(cmd, ServeOptions);
  cmd.action(async () => {
    const opts = resolveOptions(cmd, ServeOptions);
    const examples = loadExamples(opts);
    const reward = loadRewardConfig(opts.reward, opts.mode);
    const executor = new SqlExecutor({ timeoutMs: opts.timeout * 1000, ...(opts.workers ? { workers: opts.workers } : {}) });
    const { startRewardServer } = await import('../../serve/reward-server.js');
    let server;
    try {
      const token = opts.token ?? process.env.SQLRL_TOKEN;
      server = await startRewardServer({ examples, reward, executor, host: opts.host, port: opts.port, ...(opts.dbDir ? { dbDir: opts.dbDir } : {}), ...(token ? { token } : {}) });
    } catch (err) {
      await executor.close();
      throw new UsageError(`cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
    }
    process.stderr.write(`sqlrl serve: ${server.url} (${examples.length} examples, reward ${opts.reward}); POST /v1/rewards, POST /get_reward, GET /health, GET /metrics\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.stderr.write('sqlrl serve: draining in-flight requests\n');
        void server!.close().then(() => executor.close()).then(resolve);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  });
}
