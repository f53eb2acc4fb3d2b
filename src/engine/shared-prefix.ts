// Prompts that begin alike (every question on one database starts with the same schema) are computed
// from one shared beginning: the beginning once, then each prompt's rest attending to it. This plans
// which prompts share what: sorted by tokens, neighbours sharing at least `minShared` tokens form a
// cluster, whose shared beginning is what all its members have in common, always leaving each member
// at least one token of its own (its last row gives the first prediction).

export interface SharedCluster {
  /** Length of the beginning every member shares. */
  shared: number;
  /** Indices into the planned prompts. */
  members: number[];
}

/** Tokens `a` and `b` have in common at their start. */
export function commonPrefixLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

function compareTokens(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const i = commonPrefixLength(a, b);
  if (i < a.length && i < b.length) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Clusters of two or more prompts sharing at least `minShared` leading tokens (each prompt in at most one). */
export function planSharedPrefixes(prompts: ArrayLike<number>[], minShared: number): SharedCluster[] {
  const order = prompts.map((_, i) => i).sort((a, b) => compareTokens(prompts[a]!, prompts[b]!));
  const out: SharedCluster[] = [];
  let run: number[] = [];
  let shared = Infinity;
  const close = () => {
    if (run.length >= 2) {
      const cap = Math.min(...run.map((i) => prompts[i]!.length)) - 1;
      const len = Math.min(shared, cap);
      if (len >= minShared) out.push({ shared: len, members: [...run].sort((a, b) => a - b) });
    }
    run = [];
    shared = Infinity;
  };
  for (const i of order) {
    if (run.length) {
      const lcp = commonPrefixLength(prompts[run[run.length - 1]!]!, prompts[i]!);
      if (lcp < minShared) close();
      else shared = Math.min(shared, lcp);
    }
    run.push(i);
  }
  close();
  return out;
}
