// A map of states kept for reuse, bounded in bytes: the oldest go first when a new one does not fit,
// and a state larger than the whole budget is not kept. The first state kept under a key stays (a later
// one under the same key is the same computation). PrefixCache and CompletionCache key it.

export class ByteBudgetMap<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private used = 0;

  constructor(readonly budgetBytes: number) {}

  get(key: string): V | null {
    return this.entries.get(key)?.value ?? null;
  }

  add(key: string, value: V, bytes: number): void {
    if (bytes > this.budgetBytes || this.entries.has(key)) return;
    this.entries.set(key, { value, bytes });
    this.used += bytes;
    for (const [k, e] of this.entries) {
      if (this.used <= this.budgetBytes) break;
      this.entries.delete(k);
      this.used -= e.bytes;
    }
  }

  /** Keys and values, oldest first. */
  *all(): Generator<[string, V]> {
    for (const [k, e] of this.entries) yield [k, e.value];
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
