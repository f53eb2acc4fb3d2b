// The configuration of a training run: one zod schema per command, built from parts (model, data,
// prompt, reward, GRPO, sampling, optimisation, checkpoints), every field documented with its default
// and where it comes from, as TRL's GRPOConfig does. Defaults are declared here and nowhere else; the
// same fields load from YAML (--config) and from flags, and `--help` is generated from them.
// Fields whose default depends on others (template, evalSplit) are optional here and resolved, with a
// logged line, by run/plan.ts.
import { z } from 'zod';
import { LINEAR_NAMES } from '../engine/block.js';

export const ModelPart = {
  model: z.string().describe('model to train: a Hugging Face folder, a .gguf file, or hf:ORG/NAME'),
  init: z.string().optional().describe("start from this PEFT adapter folder (e.g. an SFT run's final adapter) or, with --train full, this model folder"),
  train: z.enum(['lora', 'full']).default('lora').describe("train LoRA adapters (base frozen) or every weight ('full', small models from scratch)"),
  loraR: z.number().int().positive().default(16).describe('LoRA rank r (Arctic: 16)'),
  loraAlpha: z.number().positive().default(32).describe('LoRA alpha; scale = alpha / r (Arctic: 32)'),
  loraDropout: z.number().min(0).max(0.9).default(0).describe('dropout on the LoRA input (PEFT lora_dropout)'),
  loraTargets: z.array(z.enum(LINEAR_NAMES)).default([...LINEAR_NAMES]).describe('projections that get adapters (Arctic: all seven)'),
  gradientCheckpointing: z
    .enum(['auto', 'on', 'off'])
    .default('auto')
    .describe("keep only layer inputs and recompute activations in the backward: 'auto' when all activations would exceed 2 GiB (long prompts, large batches), or when reusing the prompt computed during sampling"),
};

export const DataPart = {
  dataset: z.enum(['builtin', 'spider', 'bird', 'jsonl', 'sample']).default('builtin').describe('training data: the built-in benchmark, spider, bird, a jsonl file, or the bundled sample'),
  dataDir: z.string().optional().describe('Spider/BIRD folder'),
  file: z.string().optional().describe('JSONL file for --dataset jsonl'),
  dbDir: z.string().optional().describe('folder of the SQLite databases'),
  split: z.string().default('train').describe('training split'),
  evalSplit: z.string().optional().describe('held-out split for greedy EX during training (default: heldout for builtin, dev for spider/bird, the training file for jsonl/sample)'),
  limit: z.number().int().positive().optional().describe('use only the first N training examples'),
  evalLimit: z.number().int().positive().default(100).describe('held-out examples per evaluation'),
};

export const PromptPart = {
  template: z
    .enum(['plain', 'think', 'compact'])
    .optional()
    .describe("prompt: 'plain' (OmniSQL, ```sql answer), 'think' (SQL-R1 <think>/<answer>), 'compact' (one-line schema, bare SQL; small models); default: the one the reward scores"),
  maxPromptLength: z.number().int().positive().default(4096).describe('longest prompt in tokens (never cut: see --long-prompts); the plain-template Spider prompts are 931–2,394 tokens with SmolLM2'),
  longPrompts: z.enum(['error', 'drop']).default('error').describe('prompts longer than --max-prompt-length: refuse to start (error), or leave those examples out with a logged count (drop)'),
};

export const RewardPart = {
  reward: z.string().default('arctic').describe('reward: a preset (arctic, sql-r1, seed-000, seed-002, seed-003, seed-004), a YAML reward config, or a reward module (.ts/.js file or npm package; docs/rewards.md)'),
  rewardMode: z.enum(['spider', 'bird', 'strict']).optional().describe("result comparison of the reward (default: the preset's; strict for most)"),
  rewardExtract: z
    .enum(['sql-r1', 'arctic', 'lenient'])
    .optional()
    .describe("how the reward finds SQL in a response (default: the preset's: sql-r1 and arctic follow the papers' code; lenient also takes bare SQL, which the compact template asks for)"),
  sqlTimeout: z.number().positive().default(10).describe('per-query timeout in seconds for rewards and evaluation'),
  workers: z.number().int().positive().optional().describe('sandbox worker processes (default: one per core)'),
};

export const GrpoPart = {
  numGenerations: z.number().int().default(8).describe('K completions per prompt (TRL num_generations; Arctic 16, SQL-R1 8)'),
  beta: z
    .number()
    .min(0)
    .default(0)
    .describe('KL coefficient to the reference: the base model (LoRA: adapter off; full training: a frozen copy of the initial weights, one more copy of the model in memory); 0 skips the reference pass (TRL default 0.0; SQL-R1 0.001, Arctic 0.001)'),
  klEstimator: z.enum(['k3', 'k1']).default('k3').describe('KL estimator (TRL: k3)'),
  epsilon: z.number().positive().default(0.2).describe('PPO clip epsilon (TRL 0.2)'),
  epsilonHigh: z.number().positive().optional().describe('upper clip (DAPO clip-higher, e.g. 0.28); default = epsilon'),
  lossType: z
    .enum(['grpo', 'bnpo', 'dapo', 'dr_grpo'])
    .default('dapo')
    .describe('loss aggregation (TRL default dapo): grpo = mean of per-sequence means; bnpo = token mean per micro-batch; dapo = token mean over the whole step (same as bnpo without gradient accumulation); dr_grpo = sum / (sequences × max length)'),
  scaleRewards: z.enum(['group', 'batch', 'none']).default('group').describe('advantage scaling: group std (GRPO), batch std, none (Dr. GRPO)'),
  numIterations: z.number().int().positive().default(1).describe('updates per batch of samples (TRL num_iterations, μ)'),
  maskTruncatedCompletions: z.boolean().default(false).describe('leave completions cut at max length out of the loss (DAPO)'),
  dropZeroStdGroups: z.boolean().default(true).describe("leave groups whose rewards are all equal out of the loss (Arctic's online filtering); they are counted"),
  dynamicSampling: z.boolean().default(false).describe('DAPO dynamic sampling: draw more prompts until the batch holds batch-size groups whose rewards differ'),
  maxSampleBatches: z.number().int().positive().default(3).describe('with dynamic sampling: batches of prompts drawn at most per step'),
};

export const SamplingPart = {
  temperature: z.number().positive().default(0.8).describe('sampling temperature (Arctic 0.8); logprobs use the same temperature'),
  topP: z.number().gt(0).max(1).default(1).describe('nucleus sampling'),
  maxCompletionLength: z.number().int().positive().default(256).describe('completion tokens (TRL max_completion_length)'),
};

export const OptimPart = {
  learningRate: z.number().positive().default(1e-5).describe('peak learning rate (TRL GRPO default 1e-6 for full fine-tuning; LoRA takes ~10x more)'),
  lrSchedule: z.enum(['constant', 'linear', 'cosine']).default('cosine').describe('schedule after warmup (cosine, as SQL-R1/TRL runs)'),
  warmupRatio: z.number().min(0).max(1).default(0.1).describe('fraction of steps of linear warmup'),
  maxGradNorm: z.number().min(0).default(1).describe('global gradient-norm clipping (TRL max_grad_norm 1.0); 0 = off'),
  weightDecay: z.number().min(0).default(0).describe('AdamW decoupled weight decay'),
  maxSteps: z.number().int().positive().default(100).describe('optimizer steps'),
  maxMinutes: z.number().positive().optional().describe('stop after this much training time (minutes, across resumes), as if the last step were reached: the final adapter and report are written'),
  batchSize: z.number().int().positive().default(4).describe('prompts per optimizer step (GRPO: each gets K completions)'),
  gradientAccumulationSteps: z.number().int().positive().default(1).describe('micro-batches per optimizer step (batch-size is split among them; less memory per backward pass)'),
  seed: z.number().int().default(0).describe('seed of data order, sampling and initialisation'),
};

export const CheckpointPart = {
  output: z.string().describe('run directory (metrics.jsonl, samples.jsonl, checkpoints/, report.json)'),
  resume: z.boolean().default(false).describe('continue from the latest checkpoint in --output (otherwise --output must be new or empty)'),
  saveEvery: z.number().int().min(0).default(20).describe('steps between checkpoints'),
  evalEvery: z.number().int().min(0).default(20).describe('steps between held-out evaluations, and at the last step (0 = none)'),
  dashboard: z.boolean().default(false).describe('serve the live dashboard beside the run'),
  dashboardPort: z.number().int().min(0).max(65535).default(6006).describe('dashboard port'),
  quiet: z.boolean().default(false).describe('no progress bar'),
};

export const TrainConfig = z
  .object({
    ...ModelPart,
    ...DataPart,
    ...PromptPart,
    ...RewardPart,
    ...GrpoPart,
    ...SamplingPart,
    ...OptimPart,
    ...CheckpointPart,
    logGroups: z.number().int().min(0).default(2).describe('prompts per step whose K completions go to samples.jsonl'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.numGenerations < 2) ctx.addIssue({ code: 'custom', path: ['numGenerations'], message: 'K must be at least 2: GRPO compares completions within a group' });
    if (o.batchSize % o.gradientAccumulationSteps !== 0)
      ctx.addIssue({ code: 'custom', path: ['gradientAccumulationSteps'], message: `batch-size ${o.batchSize} does not split into ${o.gradientAccumulationSteps} micro-batches` });
  });
export type TrainConfig = z.infer<typeof TrainConfig>;

export const SftConfig = z
  .object({
    ...ModelPart,
    ...DataPart,
    ...PromptPart,
    sqlTimeout: RewardPart.sqlTimeout,
    workers: RewardPart.workers,
    ...OptimPart,
    learningRate: z.number().positive().default(1e-4).describe('peak learning rate (LoRA SFT: ~1e-4)'),
    epochs: z.number().positive().optional().describe('train for this many passes over the data (overrides --max-steps)'),
    ...CheckpointPart,
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.batchSize % o.gradientAccumulationSteps !== 0)
      ctx.addIssue({ code: 'custom', path: ['gradientAccumulationSteps'], message: `batch-size ${o.batchSize} does not split into ${o.gradientAccumulationSteps} micro-batches` });
  });
export type SftConfig = z.infer<typeof SftConfig>;
