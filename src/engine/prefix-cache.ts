// Prompts computed during sampling, kept for the update that follows under the same weights: the
// backward pass reuses their keys/values and layer inputs instead of running the prompt again. Keyed by
// the prompt tokens, the adapter switch and the weights' version (every optimizer step is a new version);
// bounded in bytes, oldest first out. A kept prompt that begins a new one (a schema several questions
// share) serves it too: only the rest is computed (longestPrefix, CausalLM.extendMany).
import { ByteBudgetMap } from './byte-budget-map.js';
import type { PrefixState } from './model.js';

export class PrefixCache {
  private readonly kept: ByteBudgetMap<PrefixState>;

  constructor(budgetBytes: number) {
    this.kept = new ByteBudgetMap(budgetBytes);
  }

  private static key(prompt: ArrayLike<number>, adapter: boolean, version: number): string {
    return `${adapter ? 1 : 0}:${version}:${Array.prototype.join.call(prompt, ',')}`;
  }

  get(prompt: ArrayLike<number>, adapter: boolean, version: number): PrefixState | null {
    return this.kept.get(PrefixCache.key(prompt, adapter, version));
  }

  /** The longest kept state whose prompt is a proper beginning of `prompt` (at least `minLen` tokens), or null. */
  longestPrefix(prompt: ArrayLike<number>, adapter: boolean, version: number, minLen: number): PrefixState | null {
    let best: PrefixState | null = null;
    const tag = `${adapter ? 1 : 0}:${version}:`;
    for (const [key, st] of this.kept.all()) {
      const n = st.prompt.length;
      if (!key.startsWith(tag) || n < minLen || n >= prompt.length || (best && n <= best.prompt.length)) continue;
      let same = true;
      for (let i = n - 1; i >= 0 && same; i--) same = st.prompt[i] === prompt[i];
      if (same) best = st;
    }
    return best;
  }

  put(state: PrefixState, version: number): void {
    this.kept.add(PrefixCache.key(state.prompt, state.adapter, version), state, state.bytes);
  }

  clear(): void {
    this.kept.clear();
  }
}
