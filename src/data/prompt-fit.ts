// Prompts longer than the limit are never cut silently: count them, then refuse (naming what fixes it)
// or leave those examples out with the count said. Cutting a text-to-SQL prompt drops the instructions
// or the schema's first tables, which the model then cannot know.
import { UsageError } from '../errors.js';

export type LongPrompts = 'error' | 'drop';

export function fitPrompts<T>(items: T[], length: (t: T) => number, maxLength: number, policy: LongPrompts): { kept: T[]; dropped: T[]; longest: number } {
  const kept: T[] = [];
  const dropped: T[] = [];
  let longest = 0;
  for (const it of items) {
    const n = length(it);
    longest = Math.max(longest, n);
    (n > maxLength ? dropped : kept).push(it);
  }
  if (dropped.length && policy === 'error')
    throw new UsageError(
      `${dropped.length} of ${items.length} prompts are longer than --max-prompt-length ${maxLength} tokens (the longest has ${longest}); ` +
        `raise --max-prompt-length, use --template compact (a shorter schema), or pass --long-prompts drop to leave those examples out`,
    );
  return { kept, dropped, longest };
}
