// `sqlrl serve`: the reward server (batch JSON API + OpenRLHF's remote reward protocol) over a dataset.
import { Command } from 'commander';
import { z } from 'zod';
import { SqlExecutor } from '../../sql/executor.js';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';
import { templatePrefill } from '../../data/prompt.js';
import { loadReward } from '../../reward/config.js';
import { EXTRACT_RULES, type ExtractRule } from '../../reward/extract.js';
import { PRESETS } from '../../reward/presets.js';
import { DatasetFields, loadExamples } from './eval.js';

export const ServeOptions = z.object({
  ...DatasetFields,
  reward: z.string().default('arctic').describe(`reward preset (${Object.keys(PRESETS).join(', ')}), a YAML file with {preset?, mode?, extract?, components?, modules?}, or a reward module (.ts/.js file or npm package)`),
  mode: z.enum(['spider', 'bird', 'strict']).optional().describe("result comparison mode (default: the preset's)"),
  extract: z.enum(EXTRACT_RULES as [ExtractRule, ...ExtractRule[]]).optional().describe("how SQL is found in a completion: sql-r1, arctic (the papers' rules), lenient (any fence, unclosed, bare SQL); default: the preset's"),
  template: z.enum(['plain', 'think', 'compact']).optional().describe("the prompt template the trainer's prompts were built with: its prefilled assistant text (think: '<think>\\n') is put before completions whose request gives no prefix"),
  host: z.string().default('127.0.0.1').describe('address to listen on (0.0.0.0 for other machines)'),
  port: z.number().int().min(0).max(65535).default(8000).describe('port (0 picks a free one)'),
  token: z.string().optional().describe('require Authorization: Bearer TOKEN, or ?token=TOKEN in the URL for clients that send no headers (OpenRLHF) (default: $SQLRL_TOKEN if set)'),
  timeout: z.number().positive().default(30).describe('per-query timeout in seconds'),
  workers: z.number().int().positive().optional().describe('sandbox worker processes (default: one per core)'),
  bodyLimit: z.number().positive().default(16).describe('largest request body in MiB (a larger batch gets 413; the Python adapters split batches under it)'),
  maxItems: z.number().int().positive().default(4096).describe('most items in one POST /v1/rewards request'),
});

export function register(program: Command): void {
  const cmd = program.command('serve').description('Serve rewards over HTTP: POST /v1/rewards (batch JSON) and POST /get_reward (OpenRLHF remote reward).');
  addSchemaOptions(cmd, ServeOptions);
  cmd.action(async () => {
    const opts = resolveOptions(cmd, ServeOptions);
    const examples = loadExamples(opts);
    const reward = await loadReward(opts.reward, { ...(opts.mode ? { mode: opts.mode } : {}), ...(opts.extract ? { extract: opts.extract } : {}) });
    const executor = new SqlExecutor({ timeoutMs: opts.timeout * 1000, ...(opts.workers ? { workers: opts.workers } : {}) });
    const { startRewardServer } = await import('../../serve/reward-server.js');
    const token = opts.token ?? process.env.SQLRL_TOKEN;
    let server;
    try {
      server = await startRewardServer({
        examples,
        reward,
        executor,
        host: opts.host,
        port: opts.port,
        bodyLimit: Math.round(opts.bodyLimit * 1024 * 1024),
        maxItems: opts.maxItems,
        onWarning: (m) => process.stderr.write(m + '\n'),
        ...(opts.template ? { prefix: templatePrefill(opts.template) } : {}),
        ...(opts.dbDir ? { dbDir: opts.dbDir } : {}),
        ...(token ? { token } : {}),
      });
    } catch (err) {
      await executor.close();
      throw new UsageError(`cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
    }
    process.stderr.write(`sqlrl serve: ${server.url} (${examples.length} examples, reward ${opts.reward}); POST /v1/rewards, POST /get_reward, GET /health, GET /metrics\n`);
    if (!token && !['127.0.0.1', 'localhost', '::1'].includes(opts.host)) {
      process.stderr.write(`sqlrl serve: no --token and listening on ${opts.host}: anyone who reaches this address can use the server (fine on a private network; see integrations/python/README.md)\n`);
    }
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
