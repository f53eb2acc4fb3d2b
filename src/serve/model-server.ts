// `sqlrl serve-model`: a policy (the CPU engine's base model + optional adapter) behind the
// OpenAI API — /v1/chat/completions, /v1/completions, /v1/models — so any OpenAI client,
// including `sqlrl eval --endpoint`, can use a trained model. close() drains: the generation running
// finishes, requests queued behind it get a 503, idle keep-alive connections are closed.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Policy, Sample } from '../interfaces/policy.js';
import { trackConnections } from './graceful.js';

export interface ModelServerOptions {
  policy: Policy;
  /** The name clients pass as `model` (any name is accepted; this one is listed). */
  modelName: string;
  host?: string;
  port?: number;
  /** Upper bound on max_tokens a request may ask for. */
  maxTokensLimit?: number;
  token?: string;
  /** close() waits this long for the generation in progress, then drops its connection (default 60 000 ms). */
  drainMs?: number;
}

const Common = {
  model: z.string().optional(),
  n: z.number().int().min(1).max(64).default(1),
  temperature: z.number().min(0).max(5).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  top_k: z.number().int().min(0).optional(),
  max_tokens: z.number().int().min(1).optional(),
  max_completion_tokens: z.number().int().min(1).optional(),
  stop: z.union([z.string(), z.array(z.string()).max(8)]).nullish(),
  seed: z.number().int().nullish(),
  stream: z.boolean().optional(),
  user: z.string().optional(),
};

const ChatRequest = z.object({
  ...Common,
  messages: z
    .array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }))
    .min(1),
  logprobs: z.boolean().default(false),
});

const CompletionRequest = z.object({
  ...Common,
  prompt: z.union([z.string(), z.array(z.string()).length(1)]),
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.boolean().optional(),
});

function openAiError(reply: FastifyReply, status: number, message: string, param: string | null = null) {
  return reply.code(status).send({ error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param, code: null } });
}

function zodMessage(err: z.ZodError): { message: string; param: string | null } {
  const issue = err.issues[0];
  const param = issue.path.join('.') || null;
  return { message: `${param ?? 'body'}: ${issue.message}`, param };
}

const finish = (s: Sample) => (s.finishReason === 'length' ? 'length' : 'stop');

export async function startModelServer(opts: ModelServerOptions): Promise<{ url: string; app: FastifyInstance; close(): Promise<void> }> {
  const { policy, modelName } = opts;
  const maxTokensLimit = opts.maxTokensLimit ?? 2048;
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024, forceCloseConnections: false });
  const connections = trackConnections(app.server);
  let closing = false;
  // One generation at a time: the engine uses every core for one batch. Once closing, generations that
  // have not started are refused rather than run for clients about to be disconnected.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(gen: () => Promise<T>): Promise<T> => {
    const fn = () => (closing ? Promise.reject(Object.assign(new Error('the server is shutting down; retry on another replica'), { statusCode: 503 })) : gen());
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  // requests without a seed draw from a sequence of their own
  let nextSeed = 1;

  app.addHook('onRequest', async (req, reply) => {
    if (!opts.token) return;
    if (req.headers.authorization !== `Bearer ${opts.token}`) return openAiError(reply, 401, 'missing or wrong bearer token (Authorization: Bearer TOKEN)');
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && ((err.statusCode >= 400 && err.statusCode < 500) || err.statusCode === 503) ? err.statusCode : 500;
    return openAiError(reply, status, status === 500 ? `generation failed: ${err.message}` : err.message.split('\n')[0]);
  });

  app.get('/health', async () => ({ status: 'ok', model: modelName }));
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: modelName, object: 'model', created: Math.floor(Date.now() / 1000), owned_by: 'sqlrl' }],
  }));

  const sampleFor = (promptText: string, body: z.infer<typeof ChatRequest> | z.infer<typeof CompletionRequest>) => {
    const maxNewTokens = body.max_completion_tokens ?? body.max_tokens ?? 256;
    if (maxNewTokens > maxTokensLimit) {
      throw Object.assign(new Error(`max_tokens ${maxNewTokens} exceeds this server's limit of ${maxTokensLimit}`), { statusCode: 400 });
    }
    const prompt = policy.tokenizer.encode(promptText, { addSpecialTokens: false });
    const stop = body.stop == null ? [] : Array.isArray(body.stop) ? body.stop : [body.stop];
    return serialized(async () => ({
      prompt,
      samples: (
        await policy.sample([{ prompt, n: body.n, seed: body.seed ?? nextSeed++ }], {
        maxNewTokens,
        temperature: body.temperature,
        topP: body.top_p,
        topK: body.top_k,
          stopStrings: stop,
        })
      )[0]!,
    }));
  };

  app.post('/v1/chat/completions', async (req, reply) => {
    const parsed = ChatRequest.safeParse(req.body);
    if (!parsed.success) {
      const { message, param } = zodMessage(parsed.error);
      return openAiError(reply, 400, message, param);
    }
    const body = parsed.data;
    if (body.stream) return openAiError(reply, 400, 'stream: streaming is not supported by sqlrl serve-model; send stream=false', 'stream');
    const text = policy.tokenizer.applyChatTemplate(body.messages, { addGenerationPrompt: true });
    const { prompt, samples } = await sampleFor(text, body);
    const completionTokens = samples.reduce((s, x) => s + x.tokens.length, 0);
    return {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? modelName,
      choices: samples.map((s, index) => ({
        index,
        message: { role: 'assistant', content: s.text },
        finish_reason: finish(s),
        logprobs: body.logprobs
          ? { content: s.tokens.map((t, i) => ({ token: policy.tokenizer.decode([t]), logprob: s.logprobs[i], bytes: null, top_logprobs: [] })) }
          : null,
      })),
      usage: { prompt_tokens: prompt.length, completion_tokens: completionTokens, total_tokens: prompt.length + completionTokens },
    };
  });

  app.post('/v1/completions', async (req, reply) => {
    const parsed = CompletionRequest.safeParse(req.body);
    if (!parsed.success) {
      const { message, param } = zodMessage(parsed.error);
      return openAiError(reply, 400, message, param);
    }
    const body = parsed.data;
    if (body.stream) return openAiError(reply, 400, 'stream: streaming is not supported by sqlrl serve-model; send stream=false', 'stream');
    const promptText = Array.isArray(body.prompt) ? body.prompt[0] : body.prompt;
    const { prompt, samples } = await sampleFor(promptText, body);
    const completionTokens = samples.reduce((s, x) => s + x.tokens.length, 0);
    return {
      id: `cmpl-${randomUUID()}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? modelName,
      choices: samples.map((s, index) => {
        let offset = body.echo ? promptText.length : 0;
        const tokens = s.tokens.map((t) => policy.tokenizer.decode([t]));
        return {
          index,
          text: (body.echo ? promptText : '') + s.text,
          finish_reason: finish(s),
          logprobs:
            body.logprobs != null
              ? {
                  tokens,
                  token_logprobs: Array.from(s.logprobs),
                  top_logprobs: null,
                  text_offset: tokens.map((tok) => {
                    const at = offset;
                    offset += tok.length;
                    return at;
                  }),
                }
              : null,
        };
      }),
      usage: { prompt_tokens: prompt.length, completion_tokens: completionTokens, total_tokens: prompt.length + completionTokens },
    };
  });

  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  return {
    url: address,
    app,
    close: async () => {
      closing = true;
      await connections.drain(() => app.close(), opts.drainMs ?? 60_000);
    },
  };
}
