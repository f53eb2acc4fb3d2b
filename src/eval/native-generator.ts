// A generator over any Policy (the CPU engine, or whatever implements the seam): chat messages through
// the model's chat template, sampled on the policy. Requests go to the policy a few at a time: their
// sequences decode as one batch (one pass over the weights per token for all of them), and the n
// completions of a request share its prompt.
import type { Policy } from '../interfaces/policy.js';
import { promptText, type GenerationParams, type GenerationRequest, type Generator } from './generators.js';

export class PolicyGenerator implements Generator {
  /** Requests handed over at once (the evaluation's batches): decoded together. */
  readonly concurrency: number;

  constructor(
    readonly policy: Policy,
    readonly name: string,
    private readonly opts: { maxPromptTokens?: number; /** Requests decoded together (default 16). */ batch?: number } = {},
  ) {
    this.concurrency = Math.max(1, opts.batch ?? 16);
  }

  /** Token ids of a request's prompt, prefill included (left-truncated to maxPromptTokens). */
  promptTokens(req: GenerationRequest): number[] {
    const text = promptText((m, o) => this.policy.tokenizer.applyChatTemplate(m, o), req);
    const ids = this.policy.tokenizer.encode(text);
    const max = this.opts.maxPromptTokens;
    return max && ids.length > max ? ids.slice(ids.length - max) : ids;
  }

  async generate(requests: GenerationRequest[], params: GenerationParams, onDone?: (index: number) => void): Promise<string[][]> {
    const out: string[][] = [];
    const per = this.concurrency;
    for (let i0 = 0; i0 < requests.length; i0 += per) {
      const chunk = requests.slice(i0, i0 + per);
      const samples = await this.policy.sample(
        chunk.map((r, j) => ({ prompt: this.promptTokens(r), n: params.n, seed: (params.seed ?? 0) + i0 + j })),
        {
          maxNewTokens: params.maxTokens,
          temperature: params.temperature,
          topP: params.topP,
          ...(params.stop ? { stopStrings: params.stop } : {}),
        },
      );
      samples.forEach((group, j) => {
        out.push(group.map((s) => s.text));
        onDone?.(i0 + j);
      });
    }
    return out;
  }
}
