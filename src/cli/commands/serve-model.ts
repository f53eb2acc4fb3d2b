// `sqlrl serve-model`: a model on the CPU engine (plus an optional LoRA adapter) behind the OpenAI API,
// so any OpenAI client — and `sqlrl eval --endpoint` — can use it.
import { Command } from 'commander';
import { z } from 'zod';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';
import { onStopSignals, SECOND_SIGNAL_HINT } from '../../signals.js';

export const ServeModelOptions = z.object({
  model: z.string().describe('a Hugging Face folder, a .gguf file, or hf:ORG/NAME'),
  adapter: z.string().optional().describe('PEFT LoRA adapter folder to apply'),
  name: z.string().default('sqlrl').describe('model name listed by /v1/models'),
  host: z.string().default('127.0.0.1').describe('address to listen on'),
  port: z.number().int().min(0).max(65535).default(8080).describe('port (0 picks a free one)'),
  maxTokens: z.number().int().positive().default(2048).describe('largest max_tokens a request may ask for'),
  token: z.string().optional().describe('require Authorization: Bearer TOKEN'),
  drainTimeout: z.number().positive().default(60).describe('on SIGINT/SIGTERM, seconds to let the generation in progress finish before exiting'),
});

export function register(program: Command): void {
  const cmd = program.command('serve-model').description('Serve a model (CPU engine, optional LoRA adapter) over the OpenAI API: /v1/chat/completions, /v1/completions, /v1/models.');
  addSchemaOptions(cmd, ServeModelOptions);
  cmd.action(async () => {
    const o = resolveOptions(cmd, ServeModelOptions);
    const { CpuPolicy } = await import('../../engine/policy.js');
    const { startModelServer } = await import('../../serve/model-server.js');
    let policy;
    try {
      policy = await CpuPolicy.load(o.model, o.adapter ? { adapterDir: o.adapter } : {});
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const server = await startModelServer({ policy, modelName: o.name, host: o.host, port: o.port, maxTokensLimit: o.maxTokens, drainMs: o.drainTimeout * 1000, ...(o.token ? { token: o.token } : {}) });
    process.stderr.write(`sqlrl serve-model: ${server.url}/v1 (model '${o.name}': ${policy.describe()})\n`);
    const stop = onStopSignals((reason) => {
      process.stderr.write(`sqlrl serve-model: ${reason}: finishing the generation in progress (at most ${o.drainTimeout} s); ${SECOND_SIGNAL_HINT}\n`);
    });
    await stop.stopped;
    await server.close();
    process.stderr.write('sqlrl serve-model: stopped\n');
  });
}
