// Completions decoded for the update that follows (sampling with forUpdate), kept under the same
// weights: the decode already computed every completion row's layer inputs, so the training forward of
// those rows (and of the prompts, kept in PrefixCache) has nothing left to compute — the backward
// recomputes each layer from them. Keyed by the prompt, the completion's tokens and the weights'
// version; bounded in bytes, oldest first out (DAPO's later sampling rounds win over earlier ones).
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

  put(prompt: ArrayLike<number>, tokens: ArrayLike<number>, version: number, state: CompletionState): void {
    const bytes = CompletionCache.bytes(state);
    if (bytes > this.budgetBytes) return;
    const key = CompletionCache.key(prompt, tokens, version);
    const had = this.entries.get(key);
    if (had) {
      this.entries.delete(key);
      this.used -= CompletionCache.bytes(had);
    }
    this.entries.set(key, state);
    this.used += bytes;
    for (const [k, s] of this.entries) {
      if (this.used <= this.budgetBytes) break;
      this.entries.delete(k);
      this.used -= CompletionCache.bytes(s);
    }
  }

  private static bytes(state: CompletionState): number {
    return 4 * (state.xOut.length + state.x.reduce((a, x) => a + x.length, 0));
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
