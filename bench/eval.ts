// `npm run bench:eval` — `sqlrl eval` on a Spider dev prediction file, whole process included, beside the
// official test-suite evaluator (taoyds/test-suite-sql-eval, `evaluation.py --etype exec`, from
// ../shared/reference) run in the same script on the same predictions: wall time (median of 3, interleaved),
// true peak RSS (bench/lib/peak-rss.ts), EX overall and by hardness, which must agree. Then 20 runaway
// queries, which must finish within their waves of timeouts + 5 s (the sandbox's worker ceiling). The official evaluator runs in a venv with its PyPI
// dependencies (nltk, sqlparse, tqdm, bench/ref/test-suite-requirements.txt) under bench/out/; where PyPI
// is unreachable that half is skipped with a message.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSpider, missingDatabases } from '../src/data/datasets.js';
import type { Example } from '../src/data/types.js';
import { measured, selfPeakMiB } from './lib/peak-rss.js';

const ROOT = resolve(import.meta.dirname, '..');
const SPIDER = resolve(ROOT, '../shared/data/spider');
const OFFICIAL = resolve(ROOT, '../shared/reference/test-suite-sql-eval');
const OUT = join(ROOT, 'bench/out');
const VENV = join(OUT, 'test-suite-venv');
const REPEATS = 3;
const HARDNESS = ['easy', 'medium', 'hard', 'extra', 'all'] as const;
mkdirSync(OUT, { recursive: true });

if (!existsSync(join(SPIDER, 'dev.json'))) {
  console.error(`bench:eval: Spider not found at ${SPIDER}`);
  process.exit(1);
}
// bin/sqlrl.js runs the compiled dist/: compile the current source so the numbers are of this tree
execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });

// --- predictions: mostly right, some wrong in ways the evaluators must judge alike ------------------

/** Same result, different text: a comment after the first SELECT, keywords re-cased (defeats caches). */
function disguise(sql: string, i: number): string {
  return sql.replace(/^\s*select/i, `select /* p${i} */`).replace(/\bFROM\b/g, 'from').replace(/\bWHERE\b/g, 'where');
}

/**
 * The prediction for the k-th runnable example: per ten, one adds DISTINCT (both evaluators strip it:
 * right), one answers with another question's gold on the same database (wrong unless the results happen
 * to coincide), one flips the first DESC to ASC (order and LIMIT judged), one does not parse (error).
 */
function prediction(e: Example, k: number, sameDb: Example[]): string {
  const sql = e.goldSql.trim();
  switch (k % 10) {
    case 1:
      return disguise(sql, e.index).replace(/^select(?!\s+distinct)/i, 'select distinct');
    case 3: {
      const other = sameDb[(sameDb.indexOf(e) + 1) % sameDb.length]!;
      return disguise(other.goldSql.trim(), e.index);
    }
    case 6:
      return /\bDESC\b/i.test(sql) ? disguise(sql, e.index).replace(/\bDESC\b/i, 'ASC') : disguise(sql, e.index);
    case 8:
      return disguise(sql, e.index).replace(/^select/i, 'selec');
    default:
      return disguise(sql, e.index);
  }
}

const examples = loadSpider(SPIDER, 'dev');
const missing = new Set(missingDatabases(examples).map((e) => e.index));
const runnable = examples.filter((e) => !missing.has(e.index));
const byDb = new Map<string, Example[]>();
for (const e of runnable) byDb.set(e.dbId, [...(byDb.get(e.dbId) ?? []), e]);
const predOf = new Map(runnable.map((e, k) => [e.index, prediction(e, k, byDb.get(e.dbId)!)]));
// sqlrl: one line per dev example in dataset order (the missing database's lines are skipped);
// the official evaluator: the runnable examples only (it asserts every gold query runs), gold as `SQL<TAB>db`.
const predFile = join(OUT, 'spider-dev-preds.sql');
writeFileSync(predFile, examples.map((e) => predOf.get(e.index) ?? e.goldSql.trim()).join('\n') + '\n');
const officialGold = join(OUT, 'spider-dev-runnable-gold.txt');
const officialPred = join(OUT, 'spider-dev-runnable-preds.sql');
writeFileSync(officialGold, runnable.map((e) => `${e.goldSql.trim()}\t${e.dbId}`).join('\n') + '\n');
writeFileSync(officialPred, runnable.map((e) => predOf.get(e.index)!).join('\n') + '\n');

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
const runawayFile = join(OUT, 'spider-dev-20-runaways.sql');
const runawayAt = new Set(Array.from({ length: 20 }, (_, k) => runnable[Math.floor((k * runnable.length) / 20)]!.index));
writeFileSync(runawayFile, examples.map((e, i) => (runawayAt.has(i) ? RUNAWAY : disguise(e.goldSql, i))).join('\n') + '\n');

// --- the official evaluator's environment ----------------------------------------------------------

/** The venv's python with the evaluator's dependencies, or the reason it is unavailable. */
function officialPython(): { python: string } | { skipped: string } {
  if (!existsSync(join(OFFICIAL, 'evaluation.py'))) return { skipped: `official evaluator not found at ${OFFICIAL}` };
  const py = join(VENV, 'bin/python');
  const ready = () => existsSync(py) && spawnSync(py, ['-c', 'import nltk, sqlparse, tqdm'], { stdio: 'ignore' }).status === 0;
  if (ready()) return { python: py };
  const venv = spawnSync('python3', ['-m', 'venv', VENV], { encoding: 'utf8' });
  if (venv.status !== 0) return { skipped: `python3 -m venv failed (apt-get install python3-venv): ${(venv.stderr || String(venv.error)).trim().split('\n').pop()}` };
  const pip = spawnSync(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--timeout', '20', '--retries', '1', '-r', join(ROOT, 'bench/ref/test-suite-requirements.txt')], { encoding: 'utf8' });
  if (pip.status !== 0 || !ready()) return { skipped: `could not install nltk, sqlparse, tqdm from PyPI (${pip.stderr.trim().split('\n').pop() ?? 'pip failed'})` };
  return { python: py };
}

/** Accuracy per hardness level from the official evaluator's printed table, as counts of correct examples. */
function parseOfficial(stdout: string): Record<(typeof HARDNESS)[number], { n: number; correct: number }> {
  const row = (name: string) => {
    const m = new RegExp(`^${name}\\s+(.+)$`, 'm').exec(stdout);
    if (!m) throw new Error(`official evaluator output has no '${name}' row:\n${stdout.slice(-1500)}`);
    return m[1]!.trim().split(/\s+/).map(Number);
  };
  const counts = row('count');
  const acc = row('execution');
  // printed with 3 decimals: n·acc is within 0.5 of the integer count for n < 1000
  return Object.fromEntries(HARDNESS.map((h, i) => [h, { n: counts[i]!, correct: Math.round(counts[i]! * acc[i]!) }])) as ReturnType<typeof parseOfficial>;
}

// --- the runs --------------------------------------------------------------------------------------

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const evalArgs = (pred: string, report: string, extra: string[] = []) => [join(ROOT, 'bin/sqlrl.js'), 'eval', '--dataset', 'spider', '--data-dir', SPIDER, '--pred', pred, '--skip-missing-db', '--mode', 'spider', '--quiet', '--report', report, ...extra];
function run(cmd: string, args: string[], opts: Parameters<typeof measured>[2] = {}) {
  const r = measured(cmd, args, { cwd: ROOT, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return r;
}

const ref = officialPython();
// NLTK's punkt models cannot be downloaded here: the stand-in's sitecustomize.py gives nltk.word_tokenize
// NLTK's own Treebank tokenizer (no model files), which is all process_sql.py needs for --etype exec.
const officialEnv = { ...process.env, PYTHONPATH: join(OFFICIAL, 'nltk-standin'), PYTHONDONTWRITEBYTECODE: '1' };
const oursReport = join(OUT, 'eval-report.json');
const ours: ReturnType<typeof measured>[] = [];
const official: ReturnType<typeof measured>[] = [];
for (let i = 0; i < REPEATS; i++) {
  ours.push(run(process.execPath, evalArgs(predFile, oursReport)));
  if ('python' in ref) {
    official.push(
      run(ref.python, ['evaluation.py', '--gold', officialGold, '--pred', officialPred, '--db', join(SPIDER, 'database'), '--table', join(SPIDER, 'tables.json'), '--etype', 'exec'], { cwd: OFFICIAL, env: officialEnv }),
    );
  }
}
const oursJson = JSON.parse(readFileSync(oursReport, 'utf8')) as {
  summary: { evaluated: number; execution_accuracy: number; by_hardness: Record<string, { n: number; execution_accuracy: number }> };
  examples: { index: number; status: string }[];
};
const { summary, examples: oursExamples } = oursJson;
const oursCounts = Object.fromEntries(HARDNESS.map((h) => {
  const b = h === 'all' ? { n: summary.evaluated, execution_accuracy: summary.execution_accuracy } : summary.by_hardness[h]!;
  return [h, { n: b.n, correct: Math.round(b.n * b.execution_accuracy) }];
})) as ReturnType<typeof parseOfficial>;

const timeoutS = 5;
const runaway = run(process.execPath, evalArgs(runawayFile, join(OUT, 'eval-runaways.json'), ['--timeout', String(timeoutS)]));
const runawaySummary = (JSON.parse(readFileSync(join(OUT, 'eval-runaways.json'), 'utf8')) as { summary: { errors: Record<string, number> } }).summary;

const pct = (c: { n: number; correct: number }) => `${((100 * c.correct) / c.n).toFixed(1)}%`;
const table = (c: ReturnType<typeof parseOfficial>) => HARDNESS.map((h) => `${h} ${pct(c[h])}`).join('  ');
const oursS = median(ours.map((r) => r.seconds));
const lines = [
  `bench:eval — Spider dev, ${runnable.length} examples with databases (${examples.length - runnable.length} on the missing wta_1 left out), predictions: the gold rewritten trivially, with per ten one DISTINCT added, one another question's gold, one DESC->ASC, one that does not parse; whole process, median of ${REPEATS}; machine shared with other work`,
  `  sqlrl eval --mode spider      ${oursS.toFixed(2)} s   peak RSS ${median(ours.map((r) => r.peakMiB)).toFixed(0)} MiB (largest process of the tree)   EX ${table(oursCounts)}`,
];
let disagree = false;
if ('python' in ref) {
  const offCounts = parseOfficial(official[0]!.stdout);
  const offS = median(official.map((r) => r.seconds));
  // per example too: the official evaluate() once more, recording each verdict (bench/ref/official_verdicts.py)
  const verdicts = JSON.parse(run(ref.python, [join(ROOT, 'bench/ref/official_verdicts.py'), officialGold, officialPred, join(SPIDER, 'database')], { cwd: OFFICIAL, env: officialEnv }).stdout) as number[];
  const oursMatch = new Map(oursExamples.map((e) => [e.index, e.status === 'match']));
  const differ = runnable.filter((e, k) => (verdicts[k] === 1) !== oursMatch.get(e.index));
  disagree = differ.length > 0 || verdicts.length !== runnable.length || HARDNESS.some((h) => offCounts[h].n !== oursCounts[h].n || offCounts[h].correct !== oursCounts[h].correct);
  lines.push(
    `  official evaluation.py exec   ${offS.toFixed(2)} s   peak RSS ${median(official.map((r) => r.peakMiB)).toFixed(0)} MiB   EX ${table(offCounts)}`,
    `    (taoyds/test-suite-sql-eval e97acc5 from ../shared/reference, venv bench/out/test-suite-venv; NLTK's punkt models are not downloadable here, so nltk-standin/ gives it NLTK's Treebank tokenizer)`,
    `  time ratio official / sqlrl   ${(offS / oursS).toFixed(2)}x`,
    disagree
      ? `  EX DISAGREES: sqlrl ${JSON.stringify(oursCounts)} vs official ${JSON.stringify(offCounts)}; ${differ.length} examples judged differently: ${differ.slice(0, 10).map((e) => `#${e.index} ${oursMatch.get(e.index) ? 'sqlrl match' : 'official match'}: ${predOf.get(e.index)}`).join(' | ')}`
      : `  EX agrees: ${oursCounts.all.correct} of ${oursCounts.all.n} correct in both, per hardness level, and example by example (${verdicts.length} official verdicts)`,
  );
} else {
  lines.push(`  official evaluator skipped: ${ref.skipped}`);
}
// The sandbox runs at most workers + max(4, workers) processes, stuck ones included (src/sql/executor.ts:
// a stuck worker holds ~50 MB), so the 20 runaways time out in waves of that many: the limit is that many
// timeouts plus 5 s.
const ceiling = availableParallelism() + Math.max(4, availableParallelism());
const waves = Math.ceil(20 / ceiling);
const runawayLimitS = waves * timeoutS + 5;
const runawayOk = runaway.seconds <= runawayLimitS;
lines.push(
  `  20 runaway queries, --timeout ${timeoutS}, at most ${ceiling} sandbox workers: finished in ${runaway.seconds.toFixed(2)} s (limit ${waves} × ${timeoutS} + 5 = ${runawayLimitS} s${runawayOk ? '' : ', OVER THE LIMIT'}); timeouts reported: ${runawaySummary.errors.timeout ?? 0}`,
  `  this benchmark process: peak RSS ${selfPeakMiB().toFixed(0)} MiB`,
);
console.log(lines.join('\n'));
writeFileSync(join(OUT, 'eval.txt'), lines.join('\n') + '\n');
if (disagree) process.exit(1);
