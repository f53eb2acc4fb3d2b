// Completions decoded for the update that follows (sampling with forUpdate), kept under the same
// weights: the decode already computed every completion row's layer inputs, so the training forward of
// those rows (and of the prompts, kept in PrefixCache) has nothing left to compute — the backward
// recomputes each layer from them. Keyed by the prompt, the completion's tokens and the weights'
// version; bounded in bytes, oldest first out (DAPO's later sampling rounds win over earlier ones).
import { ByteBudgetMap } from './byte-budget-map.js';
import type { CompletionState } from './model.js';

export class CompletionCache {
  private readonly kept: ByteBudgetMap<CompletionState>;

  constructor(budgetBytes: number) {
    this.kept = new ByteBudgetMap(budgetBytes);
  }

  get budgetBytes(): number {
    return this.kept.budgetBytes;
  }

  private static key(prompt: ArrayLike<number>, tokens: ArrayLike<number>, version: number): string {
    return `${version}:${Array.prototype.join.call(prompt, ',')}|${Array.prototype.join.call(tokens, ',')}`;
  }

  get(prompt: ArrayLike<number>, tokens: ArrayLike<number>, version: number): CompletionState | null {
    return this.kept.get(CompletionCache.key(prompt, tokens, version));
  }

  put(prompt: ArrayLike<number>, tokens: ArrayLike<number>, version: number, state: CompletionState): void {
    this.kept.add(CompletionCache.key(prompt, tokens, version), state, 4 * (state.xOut.length + state.x.reduce((a, x) => a + x.length, 0)));
  }

  clear(): void {
    this.kept.clear();
  }
}
