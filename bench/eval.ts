// `npm run bench:eval` — scoring a full Spider dev prediction file, whole process included, against a
// reference run of the official evaluator's per-example work in Python (bench/ref/spider_exec_ref.py),
// in the same script; then a file with 20 runaway queries, which must finish within timeout + 5 s.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSpider, missingDatabases } from '../src/data/datasets.js';

const ROOT = resolve(import.meta.dirname, '..');
const SPIDER = resolve(ROOT, '../shared/data/spider');
const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });

if (!existsSync(join(SPIDER, 'dev.json'))) {
  console.error(`Spider not found at ${SPIDER}`);
  process.exit(1);
}
if (!existsSync(join(ROOT, 'dist/cli/main.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });

const examples = loadSpider(SPIDER, 'dev');
const missing = new Set(missingDatabases(examples).map((e) => e.index));

/** Each gold query rewritten trivially (a comment after the first SELECT, keywords re-cased): same result, different text. */
function disguise(sql: string, i: number): string {
  return sql.replace(/^\s*select/i, `select /* p${i} */`).replace(/\bFROM\b/g, 'from').replace(/\bWHERE\b/g, 'where');
}
const predFile = join(OUT, 'spider-dev-disguised.sql');
writeFileSync(predFile, examples.map((e, i) => disguise(e.goldSql, i)).join('\n') + '\n');

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
const runawayFile = join(OUT, 'spider-dev-20-runaways.sql');
const runawayAt = new Set(Array.from({ length: 20 }, (_, k) => Math.floor((k * examples.length) / 20)).map((i) => (missing.has(i) ? i + 70 : i)));
writeFileSync(runawayFile, examples.map((e, i) => (runawayAt.has(i) ? RUNAWAY : disguise(e.goldSql, i))).join('\n') + '\n');

interface Timed {
  seconds: number;
  maxRssMiB: number;
  stdout: string;
}
/** Wall time and peak RSS (GNU time's %M: the largest of the process and its waited-for children). */
function timed(cmd: string, args: string[]): Timed {
  const r = spawnSync('/usr/bin/time', ['-f', '__TIME__ %e %M', cmd, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  const m = /__TIME__ ([\d.]+) (\d+)/.exec(r.stderr);
  if (!m || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds: Number(m[1]), maxRssMiB: Number(m[2]) / 1024, stdout: r.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const REPEATS = 3;
const evalArgs = (pred: string, extra: string[] = []) => ['bin/sqlrl.js', 'eval', '--dataset', 'spider', '--data-dir', SPIDER, '--pred', pred, '--skip-missing-db', '--quiet', '--report', join(OUT, 'eval-report.json'), ...extra];

const ours: Timed[] = [];
const ref: Timed[] = [];
for (let i = 0; i < REPEATS; i++) {
  ours.push(timed(process.execPath, evalArgs(predFile)));
  ref.push(timed('python3', ['bench/ref/spider_exec_ref.py', join(SPIDER, 'dev.json'), join(SPIDER, 'database'), predFile]));
}
const report = JSON.parse(readFileSync(join(OUT, 'eval-report.json'), 'utf8')) as { summary: { evaluated: number; execution_accuracy: number } };
const refOut = JSON.parse(ref[0]!.stdout.trim()) as { evaluated: number; correct: number };

const timeoutS = 5;
const run = timed(process.execPath, evalArgs(runawayFile, ['--timeout', String(timeoutS)]));
const runawayReport = JSON.parse(readFileSync(join(OUT, 'eval-report.json'), 'utf8')) as { summary: { errors: Record<string, number> } };

const oursS = median(ours.map((t) => t.seconds));
const refS = median(ref.map((t) => t.seconds));
const lines = [
  `bench:eval — Spider dev, ${report.summary.evaluated} examples with databases, gold rewritten trivially (defeats caches), whole process, median of ${REPEATS}`,
  `  sqlrl eval             ${oursS.toFixed(2)} s   peak RSS ${median(ours.map((t) => t.maxRssMiB)).toFixed(0)} MiB   EX ${(100 * report.summary.execution_accuracy).toFixed(1)}%`,
  `  python reference loop  ${refS.toFixed(2)} s   peak RSS ${median(ref.map((t) => t.maxRssMiB)).toFixed(0)} MiB   EX ${((100 * refOut.correct) / refOut.evaluated).toFixed(1)}%`,
  `  speed-up vs reference  ${(refS / oursS).toFixed(2)}x   (official evaluator, measured by the issue on this machine: ~3.6 s, 66 MiB)`,
  `  20 runaway queries, --timeout ${timeoutS}: finished in ${run.seconds.toFixed(2)} s (limit ${timeoutS + 5} s); timeouts reported: ${runawayReport.summary.errors.timeout ?? 0}`,
];
console.log(lines.join('\n'));
writeFileSync(join(OUT, 'eval.txt'), lines.join('\n') + '\n');
