// The seam between the RL algorithm and any model backend: rl/ and eval/ see only these types; the CPU
// engine (engine/policy.ts) implements them, and a GPU backend could too. Work comes in groups — one
// prompt and the completions sampled from it — so a backend can compute the prompt once per group
// (the gradient is the same as K separate passes; Prefix Grouper, arXiv 2506.05433).

export interface Tokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Renders chat messages with the model's chat template; `addGenerationPrompt` opens the assistant turn. */
  applyChatTemplate(messages: { role: 'system' | 'user' | 'assistant'; content: string }[], opts?: { addGenerationPrompt?: boolean }): string;
  readonly eosTokenIds: number[];
  readonly vocabSize: number;
}

export interface SampleOptions {
  maxNewTokens: number;
  /** 0 = greedy. Logprobs are of softmax(logits / temperature) (temperature 0 -> of softmax(logits)). */
  temperature: number;
  topP?: number;
  topK?: number;
  stopStrings?: string[];
  /**
   * The samples are for the update that follows (GRPO's collect): a backend may keep what sampling
   * computed for them, to spare the update recomputing it. Evaluation and serving leave it off.
   */
  forUpdate?: boolean;
}

/** Sample `n` completions of `prompt`; `seed` makes the draws reproducible (a resumed run draws the same). */
export interface SampleRequest {
  prompt: number[];
  n: number;
  seed: number;
}

export interface Sample {
  tokens: number[];
  /** Logprob of each sampled token under the sampling distribution's temperature-scaled logits. */
  logprobs: Float32Array;
  /** Entropy of that distribution at each sampled position (nats). */
  entropy: Float32Array;
  text: string;
  finishReason: 'eos' | 'stop' | 'length';
}

/** One prompt and completions of it; logprobs and gradients concern the completion tokens only. */
export interface Group {
  prompt: number[];
  completions: number[][];
}

export interface Policy {
  readonly tokenizer: Tokenizer;
  /** One list of samples per request. */
  sample(requests: SampleRequest[], opts: SampleOptions): Promise<Sample[][]>;
  /**
   * Per-token logprobs of every completion at `temperature` (default 1), group by group, completion by
   * completion; `reference` scores under the reference policy (the base model: adapter off, or the
   * frozen initial weights in full-parameter training).
   */
  logprobs(groups: Group[], opts?: { reference?: boolean; temperature?: number }): Promise<Float32Array[][]>;
  /**
   * Accumulates the gradients of Σ_t g_t · logp_t over every completion token into the trainable weights;
   * returns the logprobs its forward pass computed.
   */
  backward(groups: Group[], dLogprob: Float32Array[][], opts?: { temperature?: number }): Promise<Float32Array[][]>;
  /** Optimizer step, then zero the gradients. Returns the pre-clip gradient norm. */
  step(): number;
  /**
   * The update that samples drawn `forUpdate` were for is over, whether its step ran or nothing in the
   * batch had gradient (the weights then did not change): a backend drops what it kept for it, so that
   * steps without an update do not pile up kept state.
   */
  endUpdate(): void;
  /** Learning rate of the next step() (the trainer owns the schedule). */
  setLearningRate(lr: number): void;
  /** The trained weights in their published format (PEFT adapter, or a full model folder). */
  save(dir: string): Promise<void>;
  /** Everything needed to continue training exactly: trained weights and optimizer state. */
  saveCheckpoint(dir: string): Promise<void>;
  loadCheckpoint(dir: string): Promise<void>;
}
