// A run's prompts as token ids: the template's chat messages through the model's chat template (then the
// template's prefill, the start of the assistant turn it writes for the model, e.g. "<think>\n"), each
// database's schema read once, every prompt's length counted before training (data/prompt-fit: never
// cut), and examples whose database cannot be read left out with a count instead of stopping the run.
import { fitPrompts, type LongPrompts } from '../data/prompt-fit.js';
import { promptMessages, targetText, templatePrefill, type PromptTemplate } from '../data/prompt.js';
import type { Example } from '../data/types.js';
import type { Tokenizer } from '../interfaces/policy.js';
import { readSchema, type DbSchema } from '../sql/schema.js';

export interface RunPrompts {
  /** The examples that fit. */
  examples: Example[];
  promptOf: (ex: Example) => number[];
  /** Left out: prompt too long (with --long-prompts drop), or database unreadable. */
  tooLong: number;
  unreadable: { count: number; first: string | null };
  longest: number;
}

export function buildPrompts(tokenizer: Tokenizer, examples: Example[], template: PromptTemplate, maxLength: number, longPrompts: LongPrompts): RunPrompts {
  const schemas = new Map<string, DbSchema | Error>();
  const schemaOf = (dbPath: string): DbSchema => {
    if (!schemas.has(dbPath)) {
      try {
        schemas.set(dbPath, readSchema(dbPath, { samples: 2 }));
      } catch (err) {
        schemas.set(dbPath, err as Error);
      }
    }
    const s = schemas.get(dbPath)!;
    if (s instanceof Error) throw s;
    return s;
  };
  const ids = new Map<string, number[]>();
  const readable: Example[] = [];
  let unreadable = 0;
  let first: string | null = null;
  for (const ex of examples) {
    try {
      const text = tokenizer.applyChatTemplate(promptMessages(ex, { template }, schemaOf(ex.dbPath)), { addGenerationPrompt: true }) + templatePrefill(template);
      ids.set(ex.id, tokenizer.encode(text));
      readable.push(ex);
    } catch (err) {
      unreadable++;
      first ??= `${ex.dbPath}: ${(err as Error).message}`;
    }
  }
  const fit = fitPrompts(readable, (ex) => ids.get(ex.id)!.length, maxLength, longPrompts);
  return { examples: fit.kept, promptOf: (ex) => ids.get(ex.id)!, tooLong: fit.dropped.length, unreadable: { count: unreadable, first }, longest: fit.longest };
}

/** SFT targets: the template's answer for the gold SQL after the prefill the prompt already holds, closed by the end-of-turn token. */
export function sftTargets(tokenizer: Tokenizer, template: PromptTemplate): (ex: Example) => number[] {
  const eos = tokenizer.eosTokenIds[0];
  const skip = templatePrefill(template).length;
  return (ex) => [...tokenizer.encode(targetText(ex.goldSql, template).slice(skip)), ...(eos !== undefined ? [eos] : [])];
}
