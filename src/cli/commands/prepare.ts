// `sqlrl prepare`: export a dataset as training files for verl (parquet), TRL or OpenRLHF (JSONL), with
// sqlrl's prompts. Parses options only; the work is in src/prepare/.
import { Command } from 'commander';
import { z } from 'zod';
import { DATASETS } from '../../data/datasets.js';
import { LONG_PROMPTS } from '../../data/prompt-fit.js';
import { FORMATS, GROUND_TRUTHS } from '../../prepare/rows.js';
import { addSchemaOptions, resolveOptions } from '../options.js';

export const PrepareOptions = z.object({
  dataset: z.enum(DATASETS).describe('which loader: spider, bird, synsql (SynSQL-2.5M), jsonl, sample or builtin'),
  dataDir: z.string().optional().describe('Spider/BIRD folder (dev.json, train_spider.json, databases), or the SynSQL-2.5M folder (data.json, databases/)'),
  split: z.string().default('train').describe('dataset split (Spider train = train_spider.json then train_others.json); also names the output file'),
  file: z.string().optional().describe('JSONL file for --dataset jsonl; for synsql a JSON or JSONL subset in SynSQL\'s record format'),
  dbDir: z.string().optional().describe('folder of the SQLite databases (default: the dataset\'s own layout)'),
  offset: z.number().int().min(0).optional().describe('skip the first N examples (after --difficulty), e.g. to cut a held-out split from one file'),
  limit: z.number().int().positive().optional().describe('keep N examples (after --offset; SynSQL stops reading there)'),
  difficulty: z.array(z.string()).optional().describe('keep examples with these difficulty labels (BIRD: simple moderate challenging; SynSQL sql_complexity: Simple Moderate Complex "Highly Complex")'),
  template: z.enum(['plain', 'think', 'compact']).default('think').describe('prompt template, as in sqlrl train/eval: think (SQL-R1 <think>/<answer>), plain (OmniSQL), compact (short schema)'),
  samples: z.number().int().min(0).default(2).describe('example values per column in the schema (OmniSQL uses 2)'),
  format: z.enum(FORMATS).describe('verl: <split>.parquet; trl: <split>.jsonl (conversational prompt); openrlhf: <split>.jsonl (input, label)'),
  output: z.string().describe('output folder'),
  groundTruth: z.enum(GROUND_TRUTHS).default('sql').describe('what the reward server gets per row: sql = {"db_id","gold_sql"} JSON (serve needs only the databases), id = the example id (serve must load the same dataset and split)'),
  tokenizer: z.string().optional().describe('model whose tokenizer counts prompt tokens (folder, .gguf or hf:ORG/NAME); without it prompt lengths are not checked'),
  maxPromptLength: z.number().int().positive().default(4096).describe('longest prompt in tokens, chat template included (set the trainer\'s prompt length to the same; SQL-R1: 4096)'),
  longPrompts: z.enum(LONG_PROMPTS).default('error').describe('a prompt over --max-prompt-length: error (stop, nothing written) or drop (leave it out, counted in the summary); never cut'),
  checkGold: z.boolean().default(true).describe('run every gold SQL and leave out those that fail or time out'),
  dropEmptyGold: z.boolean().default(false).describe('also leave out gold SQL that returns no rows (Arctic-Text2SQL-R1 filters these: empty matches empty)'),
  timeout: z.number().positive().default(30).describe('per-query timeout of the gold check in seconds'),
  workers: z.number().int().positive().optional().describe('sandbox worker processes for the gold check (default: one per core)'),
  force: z.boolean().default(false).describe('overwrite existing output files'),
});

export function register(program: Command): void {
  const cmd = program
    .command('prepare')
    .description('Export a dataset with sqlrl\'s prompts as training files for verl (parquet), TRL or OpenRLHF (JSONL): one row per runnable example, long prompts never cut.');
  addSchemaOptions(cmd, PrepareOptions);
  cmd.action(async () => {
    const opts = resolveOptions(cmd, PrepareOptions);
    const { prepare } = await import('../../prepare/prepare.js');
    const log = (line: string) => process.stderr.write(`sqlrl prepare: ${line}\n`);
    const s = await prepare(opts, log);
    const left = Object.entries(s.left_out).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`);
    process.stdout.write(`wrote ${s.rows} rows to ${s.file} (${s.loaded} loaded${left.length ? `; left out: ${left.join(', ')}` : ''}); summary beside it\n`);
  });
}
