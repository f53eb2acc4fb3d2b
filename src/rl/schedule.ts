// Learning-rate schedules (as transformers' get_scheduler): linear warmup, then constant, linear decay or
// cosine decay to zero at the last step.

export type LrSchedule = 'constant' | 'linear' | 'cosine';

export function lrAt(base: number, schedule: LrSchedule, step: number, total: number, warmup: number): number {
  if (step < warmup) return (base * step) / Math.max(1, warmup);
  if (schedule === 'constant') return base;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (schedule === 'linear') return base * Math.max(0, 1 - progress);
  return base * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
