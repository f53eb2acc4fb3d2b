// What to do with prompts longer than the training configuration allows. GPU engines cut or drop long
// prompts on their own terms (verl's `truncation`, OpenRLHF's `prompt_max_len`), and a prompt cut at the
// left loses the schema, at the right the question: the model is then rewarded for answering a question
// it never saw. So sqlrl never cuts: a long prompt is either an error that says how to fix it, or
// dropped with the count reported.

import { UsageError } from '../errors.js';

export type LongPrompts = 'error' | 'drop';

export const LONG_PROMPTS: readonly LongPrompts[] = ['error', 'drop'];

export interface FittedPrompts<T> {
  /** Items whose prompt fits, in their original order. */
  kept: T[];
  /** Items whose prompt is longer than the limit, in their original order (empty under 'error'). */
  dropped: T[];
  /** Length of the longest prompt seen (kept or not); 0 for no items. */
  longest: number;
}

/**
 * Splits items by prompt length against `maxLength` (a prompt of exactly `maxLength` fits). Under
 * 'error' any prompt over the limit throws a UsageError naming how many exceed it, the longest, and the
 * options that fix it; under 'drop' those items are returned in `dropped`.
 */
export function fitPrompts<T>(items: T[], length: (t: T) => number, maxLength: number, policy: LongPrompts): FittedPrompts<T> {
  if (!Number.isInteger(maxLength) || maxLength <= 0) throw new UsageError(`--max-prompt-length must be a positive integer, got ${maxLength}`);
  const kept: T[] = [];
  const dropped: T[] = [];
  let longest = 0;
  for (const item of items) {
    const n = length(item);
    if (n > longest) longest = n;
    (n > maxLength ? dropped : kept).push(item);
  }
  if (policy === 'error' && dropped.length > 0) {
    throw new UsageError(
      `${dropped.length} of ${items.length} prompt${items.length === 1 ? '' : 's'} exceed${dropped.length === 1 ? 's' : ''} --max-prompt-length ${maxLength} (longest ${longest} tokens): ` +
        `raise --max-prompt-length (and the trainer's prompt length with it), use --template compact, or pass --long-prompts drop to leave them out`,
    );
  }
  return { kept, dropped, longest };
}
