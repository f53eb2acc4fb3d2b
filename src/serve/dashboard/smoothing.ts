// Curve smoothing for the dashboard: TensorBoard's exponential moving average. The running average starts
// at 0 and is divided by 1 - w^n (n = finite points so far), so the first points are not pulled towards
// 0; a constant series is returned unchanged (no rounding wobble); missing and non-finite points pass
// through and do not advance n. The page sends this function's source to the browser as it is, so it
// uses nothing outside its own body.

/** Smoothed values of `values` (in x order) with weight `weight` in [0, 1): 0 returns the values. */
export function emaSmooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  const out: (number | null)[] = [];
  let first: number | null = null;
  let constant = true;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (first === null) first = v;
    else if (v !== first) constant = false;
  }
  const w = Math.min(weight, 0.999); // at 1 the average would never move
  let acc = 0;
  let n = 0;
  for (const v of values) {
    if (constant || w <= 0 || v === null || !Number.isFinite(v)) {
      out.push(v);
      continue;
    }
    acc = acc * w + (1 - w) * v;
    n += 1;
    out.push(acc / (1 - Math.pow(w, n)));
  }
  return out;
}
