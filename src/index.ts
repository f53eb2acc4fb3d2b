// sqlrl as a library: `import { … } from 'sqlrl'`. Scoring completions (the reward presets, custom reward
// modules, the scorer and its sandbox), evaluating predictions by execution, loading datasets, building the
// prompts training and evaluation share, and the reward server. The CLI is built on the same functions.

// ---------------------------------------------------------------- rewards
export { RewardScorer, type RewardItem, type RewardResult } from './reward/scorer.js';
export { loadReward, loadRewardConfig, defineReward, type RewardModule } from './reward/config.js';
export { PRESETS, RewardConfig, ComponentSpec, resolveDesign, scoreContext, type RewardDesign, type RewardBreakdown, type LoadedReward } from './reward/presets.js';
export { COMPONENTS, rowsF1, type RewardComponent, type RewardContext, type ComponentValue, type ComponentParams, type Verdict } from './reward/components.js';
export { extractSql, extractWith, extractionMismatch, goldForRule, EXTRACT_RULES, type ExtractRule, type Extraction, type SqlSource } from './reward/extract.js';

// ---------------------------------------------------------------- the SQL sandbox and result comparison
export { SqlExecutor, EXECUTOR_DEFAULTS, type ExecutorOptions } from './sql/executor.js';
export { executionMatch, verdictOf, type MatchVerdict, type MatchInput, type MatchOutcome } from './sql/match.js';
export { resultsEqual, sqlForMode, orderMatters, COMPARE_MODES, type CompareMode } from './sql/compare.js';
export { readSchema, type DbSchema, type TableInfo, type ColumnInfo, type ForeignKey } from './sql/schema.js';
export type { ExecResult, ExecOptions, SqlValue, RowsResult, ErrorResult, TimeoutResult, TooLargeResult } from './sql/types.js';

// ---------------------------------------------------------------- evaluation
export { evaluatePredictions, summarize, type EvalReport, type EvaluateOptions, type EvaluatedExample, type ExampleStatus } from './eval/execution-eval.js';
export { evaluateGenerator, type GenerateEvalOptions, type GenerateEvalReport } from './eval/generate-eval.js';
export { EndpointGenerator, type EndpointOptions, type Generator, type GenerationRequest, type GenerationParams } from './eval/generators.js';
export { majorityVote, passAtK } from './eval/voting.js';

// ---------------------------------------------------------------- datasets and prompts
export { loadDataset, loadSpider, loadBird, missingDatabases, DATASETS, type DatasetName, type DatasetOptions } from './data/datasets.js';
export { loadJsonl } from './data/jsonl.js';
export type { Example } from './data/types.js';
export { promptMessages, templatePrefill, targetText, schemaDdl, schemaCompact, type PromptTemplate, type PromptOptions, type ChatMessage } from './data/prompt.js';

// ---------------------------------------------------------------- serving and errors
export { startRewardServer, type RewardServer, type RewardServerOptions } from './serve/reward-server.js';
export { UsageError } from './errors.js';
