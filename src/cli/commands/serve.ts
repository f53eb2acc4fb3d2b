// `sqlrl serve`: the reward server (batch JSON API + OpenRLHF's remote reward protocol) over a dataset.
// Says at start which databases of the split are missing (their requests answer db_missing), and stops
// gracefully: the first SIGINT/SIGTERM drains in-flight requests (at most the query timeout), a second
// exits at once.
import { Command } from 'commander';
import { z } from 'zod';
import { missingDatabases } from '../../data/datasets.js';
import { SqlExecutor } from '../../sql/executor.js';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';
import { templatePrefill } from '../../data/prompt.js';
import { loadReward } from '../../reward/config.js';
import { EXTRACT_RULES, type ExtractRule } from '../../reward/extract.js';
import { PRESETS } from '../../reward/presets.js';
import { onStopSignals, SECOND_SIGNAL_HINT } from '../../signals.js';
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
  timeout: z.number().positive().default(30).describe('per-query timeout in seconds; also the longest a stop waits for in-flight requests'),
  budgetFloor: z.number().min(0).default(1).describe("a prediction's time budget is max(FLOOR, FACTOR x its gold query's time) seconds, capped by --timeout: a runaway is cut in about FLOOR s"),
  budgetFactor: z.number().min(0).default(10).describe('see --budget-floor; 0 turns the budget off (every prediction gets --timeout)'),
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
    const lacking = missingDatabases(examples);
    const missing = [...new Set(lacking.map((e) => e.dbPath))];
    if (examples.length > 0 && lacking.length === examples.length) {
      throw new UsageError(`no database of split '${opts.split}' exists (e.g. ${missing[0]}); pass --db-dir or --data-dir`);
    }
    const reward = await loadReward(opts.reward, { ...(opts.mode ? { mode: opts.mode } : {}), ...(opts.extract ? { extract: opts.extract } : {}) });
    const executor = new SqlExecutor({ timeoutMs: opts.timeout * 1000, ...(opts.workers ? { workers: opts.workers } : {}) });
    const budget = opts.budgetFactor > 0 ? { floorMs: opts.budgetFloor * 1000, factor: opts.budgetFactor } : (false as const);
    const { startRewardServer } = await import('../../serve/reward-server.js');
    const token = opts.token ?? process.env.SQLRL_TOKEN;
    let server;
    try {
      server = await startRewardServer({
        examples,
        reward,
        executor,
        budget,
        host: opts.host,
        port: opts.port,
        bodyLimit: Math.round(opts.bodyLimit * 1024 * 1024),
        maxItems: opts.maxItems,
        missingDbPaths: missing,
        onWarning: (m) => process.stderr.write(m + '\n'),
        ...(opts.template ? { prefix: templatePrefill(opts.template) } : {}),
        ...(opts.dbDir ? { dbDir: opts.dbDir } : {}),
        ...(token ? { token } : {}),
      });
    } catch (err) {
      await executor.close();
      throw new UsageError(`cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
    }
    if (missing.length) {
      process.stderr.write(
        `sqlrl serve: warning: ${missing.length} database file${missing.length > 1 ? 's' : ''} of split '${opts.split}' missing (${lacking.length} of ${examples.length} examples), e.g. ${missing[0]}; their requests answer status db_missing\n`,
      );
    }
    process.stderr.write(`sqlrl serve: ${server.url} (${examples.length} examples, reward ${opts.reward}); POST /v1/rewards, POST /get_reward, GET /health, GET /metrics\n`);
    if (!token && !['127.0.0.1', 'localhost', '::1'].includes(opts.host)) {
      process.stderr.write(`sqlrl serve: no --token and listening on ${opts.host}: anyone who reaches this address can use the server (fine on a private network; see integrations/python/README.md)\n`);
    }
    const stop = onStopSignals((reason) => {
      process.stderr.write(`sqlrl serve: ${reason}: draining in-flight requests (at most ${opts.timeout} s); ${SECOND_SIGNAL_HINT}\n`);
    });
    await stop.stopped;
    await server.close();
    await executor.close();
    process.stderr.write('sqlrl serve: stopped\n');
  });
}
