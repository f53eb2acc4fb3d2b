// Completions decoded by the last sampling call, kept for the update that follows under the same weights:
// the decode already computed every completion row's layer inputs, so the training forward of those rows
// (and of the prompts, kept in PrefixCache) has nothing left to compute — the backward recomputes each
// layer from them. Keyed by the prompt, the completion's tokens and the weights' version; only the last
// sampling call's completions are kept (an evaluation's samples replace a training batch's, and the
// next update then computes its rows), bounded in bytes.
import type { CompletionState } from './model.js';

export class CompletionCache {
  private readonly entries = new Map<string, CompletionState>();
  private used = 0;

  constructor(readonly budgetBytes: number) {}

  private static key(prompt: ArrayLike<number>, tokens: ArrayLike<number>, version: number): string {
    return `${version}:${Array.prototype.join.call(prompt, ',')}|${Array.prototype.join.call(tokens, ',')}`;
  }

  get(prompt: ArrayLike<number>, tokens: ArrayLike<number>, version: number): CompletionState | null {
    return this.entries.get(CompletionCache.key(prompt, tokens, version)) ?? null;
  }

  /** Keeps a state while the budget allows (the first ones kept win). */
  put(prompt: ArrayLike<number>, tokens: ArrayLike<number>, version: number, state: CompletionState): void {
    const bytes = 4 * (state.xOut.length + state.x.reduce((a, x) => a + x.length, 0));
    if (this.used + bytes > this.budgetBytes) return;
    this.entries.set(CompletionCache.key(prompt, tokens, version), state);
    this.used += bytes;
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
