// Prompts computed during sampling, kept for the update that follows under the same weights: the
// backward pass reuses their keys/values and layer inputs instead of running the prompt again. Keyed by
// the prompt tokens, the adapter switch and the weights' version (every optimizer step is a new version);
// bounded in bytes, oldest first out. A kept prompt that begins a new one (a schema several questions
// share) serves it too: only the rest is computed (longestPrefix, CausalLM.extendMany). A backward that
// reuses the completions' decode states needs only the layer inputs: it releases the keys and values.
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

  /** The kept state of `prompt`; with `needKeys` (rows will attend to it) only one that still holds its keys. */
  get(prompt: ArrayLike<number>, adapter: boolean, version: number, needKeys = true): PrefixState | null {
    const st = this.kept.get(PrefixCache.key(prompt, adapter, version));
    return st && (st.k || !needKeys) ? st : null;
  }

  /**
   * Frees a kept prompt's keys and values, which a backward reusing its completions' decode states does
   * not read (it recomputes each layer from the inputs): the state stays for such a backward, and is a
   * miss for anything that attends to the prompt.
   */
  releaseKeys(state: PrefixState, version: number): void {
    if (!state.k || !state.v) return;
    let floats = 0;
    for (const a of [...state.k, ...state.v]) floats += a.length;
    state.k = null;
    state.v = null;
    state.bytes -= 4 * floats;
    this.kept.shrink(PrefixCache.key(state.prompt, state.adapter, version), state.bytes);
  }

  /** The longest kept state whose prompt is a proper beginning of `prompt` (at least `minLen` tokens), or null. */
  longestPrefix(prompt: ArrayLike<number>, adapter: boolean, version: number, minLen: number): PrefixState | null {
    let best: PrefixState | null = null;
    const tag = `${adapter ? 1 : 0}:${version}:`;
    for (const [key, st] of this.kept.all()) {
      const n = st.prompt.length;
      if (!key.startsWith(tag) || !st.k || n < minLen || n >= prompt.length || (best && n <= best.prompt.length)) continue;
      let same = true;
      for (let i = n - 1; i >= 0 && same; i--) same = st.prompt[i] === prompt[i];
      if (same) best = st;
    }
    return best;
  }

  put(state: PrefixState, version: number): void {
    const key = PrefixCache.key(state.prompt, state.adapter, version);
    // a state whose keys were released gives way to one that has them again
    if (state.k && this.kept.get(key)?.k === null) this.kept.delete(key);
    this.kept.add(key, state, state.bytes);
  }

  clear(): void {
    this.kept.clear();
  }
}
