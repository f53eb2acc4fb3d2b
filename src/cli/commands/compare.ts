// `sqlrl compare A B`: per-example diff of two evaluation reports (fixed / broken / both wrong),
// overall and per-bucket accuracy deltas with a paired bootstrap 95% interval; JSON and HTML out.
import { Command } from 'commander';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { comparisonHtml, type ComparisonJson, type EvalReportJson } from '../../eval/html-report.js';
import { compareRuns, pairReports } from '../../eval/run-compare.js';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';

export const CompareOptions = z.object({
  runA: z.string().describe('report JSON of run A (sqlrl eval --report), or a run directory holding report.json'),
  runB: z.string().describe('report JSON of run B, or a run directory holding report.json'),
  by: z.enum(['hardness', 'db']).default('hardness').describe('bucket examples by Spider hardness or by database'),
  json: z.string().optional().describe('write the comparison as JSON to this file'),
  html: z.string().optional().describe('write a self-contained HTML comparison to this file'),
  seed: z.number().int().default(0).describe('seed of the bootstrap resampling'),
});

export function loadReport(path: string): EvalReportJson {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'report.json') : path;
  if (!existsSync(file)) throw new UsageError(`report '${file}' not found (pass a file written by sqlrl eval --report)`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new UsageError(`report '${file}' is not valid JSON`);
  }
  const r = data as Partial<EvalReportJson>;
  if (!r || !Array.isArray(r.examples) || !r.summary) throw new UsageError(`report '${file}' has no "summary" and "examples" (is it a sqlrl eval --report file?)`);
  return r as EvalReportJson;
}

const pts = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;

export function register(program: Command): void {
  const cmd = program
    .command('compare')
    .argument('<run-a>', 'report of run A')
    .argument('<run-b>', 'report of run B')
    .description('Compare two evaluation reports example by example, with bootstrap confidence intervals.');
  addSchemaOptions(cmd, CompareOptions, { positional: ['runA', 'runB'] });
  cmd.action(async (runA: string, runB: string) => {
    const opts = resolveOptions(cmd, CompareOptions, { runA, runB });
    const a = loadReport(opts.runA);
    const b = loadReport(opts.runB);
    let paired;
    try {
      paired = pairReports(a.examples, b.examples, opts.by);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { overall, byBucket } = compareRuns(paired, opts.seed);
    const out: ComparisonJson = { a: opts.runA, b: opts.runB, overall, byBucket, examples: paired };
    const lines = [
      `examples ${overall.n}: A ${(100 * overall.accA).toFixed(1)}%  B ${(100 * overall.accB).toFixed(1)}%  delta ${pts(overall.delta)} pts (95% CI ${pts(overall.ci95[0])} .. ${pts(overall.ci95[1])})`,
      `fixed ${overall.fixed}  broken ${overall.broken}  both wrong ${overall.bothWrong}  both right ${overall.bothRight}`,
      '',
      `${opts.by.padEnd(24)} ${'n'.padStart(5)} ${'A'.padStart(7)} ${'B'.padStart(7)} ${'delta'.padStart(7)}  95% CI`,
      ...Object.entries(byBucket).map(([k, d]) =>
        `${k.padEnd(24)} ${String(d.n).padStart(5)} ${(100 * d.accA).toFixed(1).padStart(6)}% ${(100 * d.accB).toFixed(1).padStart(6)}% ${pts(d.delta).padStart(7)}  ${pts(d.ci95[0])} .. ${pts(d.ci95[1])}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    if (opts.json) writeFileSync(opts.json, JSON.stringify(out, null, 2));
    if (opts.html) writeFileSync(opts.html, comparisonHtml(out));
  });
}
