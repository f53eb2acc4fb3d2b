// A generator over any Policy (the CPU engine, or whatever implements the seam): chat messages through
// the model's chat template, sampled on the policy. Requests run one after another (the engine uses
// both cores for each); the n completions of one request are one batch sharing the prompt's KV.
import type { Policy } from '../interfaces/policy.js';
import { promptText, type GenerationParams, type GenerationRequest, type Generator } from './generators.js';

export class PolicyGenerator implements Generator {
  constructor(
    readonly policy: Policy,
    readonly name: string,
    private readonly opts: { maxPromptTokens?: number } = {},
  ) {}

  /** Token ids of a request's prompt, prefill included (left-truncated to maxPromptTokens). */
  promptTokens(req: GenerationRequest): number[] {
    const text = promptText((m, o) => this.policy.tokenizer.applyChatTemplate(m, o), req);
    const ids = this.policy.tokenizer.encode(text);
    const max = this.opts.maxPromptTokens;
    return max && ids.length > max ? ids.slice(ids.length - max) : ids;
  }

  async generate(requests: GenerationRequest[], params: GenerationParams, onDone?: (index: number) => void): Promise<string[][]> {
    const out: string[][] = [];
    for (let i = 0; i < requests.length; i++) {
      const samples = await this.policy.sample(this.promptTokens(requests[i]!), params.n, {
        maxNewTokens: params.maxTokens,
        temperature: params.temperature,
        topP: params.topP,
        ...(params.stop ? { stopStrings: params.stop } : {}),
        ...(params.seed !== undefined ? { seed: params.seed + i } : {}),
      });
      out.push(samples.map((s) => s.text));
      onDone?.(i);
    }
    return out;
  }
}
