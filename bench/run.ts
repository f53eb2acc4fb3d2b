// `npm run bench` — every benchmark in bench/ (each also runs alone as `npm run bench:NAME`), one after another.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';

const dir = resolve(import.meta.dirname);
const only = process.argv.slice(2);
const benches = readdirSync(dir)
  // the long experiments (learn, spider) run alone
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('learn') && !f.startsWith('spider'))
  .map((f) => f.replace(/\.ts$/, ''))
  .filter((name) => only.length === 0 || only.includes(name));
let failed = 0;
for (const name of benches) {
  console.log(`\n=== bench:${name} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', resolve(dir, `${name}.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
