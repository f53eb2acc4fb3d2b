// Where evaluated SQL comes from: a generator turns chat prompts into n completions each.
// The OpenAI-compatible endpoint generator lives here (vLLM, SGLang, llama.cpp server,
// Ollama, `sqlrl serve-model`); the native engine's generator is wired in the CLI, which
// may import the engine (eval/ may not).
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import OpenAI from 'openai';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerationRequest {
  /** Example id: results are cached under it (with a hash of the prompt and parameters). */
  id: string;
  messages: ChatMessage[];
  /**
   * Text the prompt prefills in the assistant turn (data/prompt templatePrefill): the model continues
   * from it; completions come back without it. Absent or '' for none.
   */
  prefill?: string;
}

/** The prompt text of a request for a chat template: the generation prompt, then the prefill. */
export function promptText(render: (messages: ChatMessage[], opts: { addGenerationPrompt: boolean }) => string, req: GenerationRequest): string {
  return render(req.messages, { addGenerationPrompt: true }) + (req.prefill ?? '');
}

export interface GenerationParams {
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  stop?: string[];
  seed?: number;
}

export interface Generator {
  readonly name: string;
  /** Requests worth sending at once (an endpoint's concurrency; 1 for a local model). */
  readonly concurrency?: number;
  /** Completions for each request, in request order; `onDone` fires as each request finishes. */
  generate(requests: GenerationRequest[], params: GenerationParams, onDone?: (index: number) => void): Promise<string[][]>;
  close?(): Promise<void>;
}

/** Cache key of one request: a change of prompt, model or parameters is a new key. */
export function requestKey(model: string, req: GenerationRequest, params: GenerationParams): string {
  return createHash('sha256').update(JSON.stringify([model, req.id, req.messages, params])).digest('hex').slice(0, 32);
}

/**
 * An append-only JSONL cache of finished requests, so an interrupted evaluation resumes where
 * it stopped. A torn last line (the process was killed mid-write) is ignored.
 */
export class CompletionCache {
  private readonly done = new Map<string, string[]>();

  constructor(readonly file: string | null) {
    if (!file || !existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as { key: string; completions: string[] };
        if (typeof rec.key === 'string' && Array.isArray(rec.completions)) this.done.set(rec.key, rec.completions);
      } catch {
        // a partial last line from an interrupted run
      }
    }
  }

  get size(): number {
    return this.done.size;
  }

  get(key: string): string[] | undefined {
    return this.done.get(key);
  }

  put(key: string, id: string, completions: string[]): void {
    this.done.set(key, completions);
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    appendFileSync(this.file, JSON.stringify({ key, id, completions }) + '\n');
  }
}

import { mapConcurrent } from './concurrency.js';

export { mapConcurrent };

export interface EndpointOptions {
  /** Base URL of the OpenAI-compatible API, e.g. http://localhost:8000/v1. */
  baseURL: string;
  model: string;
  apiKey?: string;
  concurrency?: number;
  timeoutMs?: number;
  /** Retries with exponential backoff on 408/409/429/5xx and connection errors (the openai client's policy). */
  maxRetries?: number;
  /** JSONL file of finished requests (resume). */
  cacheFile?: string | null;
}

/** Chat completions from an OpenAI-compatible endpoint, with concurrency, retries, timeouts and a resume cache. */
export class EndpointGenerator implements Generator {
  readonly name: string;
  private readonly client: OpenAI;
  private readonly cache: CompletionCache;

  constructor(private readonly opts: EndpointOptions) {
    this.name = `endpoint:${opts.model}`;
    this.client = new OpenAI({
      baseURL: opts.baseURL,
      apiKey: opts.apiKey ?? process.env.OPENAI_API_KEY ?? 'EMPTY',
      timeout: opts.timeoutMs ?? 120_000,
      maxRetries: opts.maxRetries ?? 4,
    });
    this.cache = new CompletionCache(opts.cacheFile ?? null);
  }

  get concurrency(): number {
    return this.opts.concurrency ?? 8;
  }

  get cachedRequests(): number {
    return this.cache.size;
  }

  async generate(requests: GenerationRequest[], params: GenerationParams, onDone?: (index: number) => void): Promise<string[][]> {
    return mapConcurrent(requests, this.opts.concurrency ?? 8, async (req, i) => {
      const key = requestKey(this.opts.model, req, params);
      const hit = this.cache.get(key);
      if (hit) {
        onDone?.(i);
        return hit;
      }
      // A prefill goes as a final assistant message the server continues (vLLM's and SGLang's
      // continue_final_message; also what TRL does with such prompts).
      const prefill = req.prefill ? { messages: [...req.messages, { role: 'assistant' as const, content: req.prefill }], continue_final_message: true, add_generation_prompt: false } : { messages: req.messages };
      const res = await this.client.chat.completions.create({
        model: this.opts.model,
        ...prefill,
        n: params.n,
        temperature: params.temperature,
        top_p: params.topP,
        max_tokens: params.maxTokens,
        stop: params.stop?.length ? params.stop : undefined,
        seed: params.seed,
      });
      const completions = [...res.choices].sort((a, b) => a.index - b.index).map((c) => c.message?.content ?? '');
      if (completions.length !== params.n) throw new Error(`endpoint ${this.opts.baseURL} returned ${completions.length} choices for n=${params.n} (does the server support n?)`);
      this.cache.put(key, req.id, completions);
      onDone?.(i);
      return completions;
    });
  }
}
