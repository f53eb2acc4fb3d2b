// The seam between the RL algorithm and any model backend (the CPU engine implements it
// structurally; rl/ never imports engine/).

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
  seed?: number;
}

export interface Sample {
  tokens: number[];
  /** Logprob of each sampled token under the sampling distribution's temperature-scaled logits. */
  logprobs: Float32Array;
  text: string;
  finishReason: 'eos' | 'stop' | 'length';
}

/** A prompt + completion pair; logprobs/gradients concern the completion tokens only. */
export interface Sequence {
  prompt: number[];
  completion: number[];
}

export interface Policy {
  readonly tokenizer: Tokenizer;
  sample(prompt: number[], n: number, opts: SampleOptions): Promise<Sample[]>;
  /** Per-completion-token logprobs at `temperature` (default 1); adapter off = reference policy. */
  logprobs(seqs: Sequence[], opts?: { adapter?: boolean; temperature?: number }): Promise<Float32Array[]>;
  /** Accumulates gradients of sum_t g_t * logp_t into the trainable weights; returns the logprobs its forward pass computed. */
  backward(seqs: Sequence[], dLogprob: Float32Array[], opts?: { temperature?: number }): Promise<Float32Array[]>;
  /** Optimizer step, then zero the gradients. Returns the pre-clip gradient norm. */
  step(): number;
  /** Learning rate of the next step() (the trainer owns the schedule). */
  setLearningRate(lr: number): void;
  /** The trained weights in their published format (PEFT adapter, or a full model folder). */
  save(dir: string): Promise<void>;
  /** Everything needed to continue training exactly: trained weights and optimizer state. */
  saveCheckpoint(dir: string): Promise<void>;
  loadCheckpoint(dir: string): Promise<void>;
  /** Per-token entropy of the policy on a sequence (metrics only). */
  entropy?(seq: Sequence, temperature: number): Promise<Float32Array>;
}
