// `import { … } from 'sqlrl'` as a user gets it: the package built (tsc, declarations) into a scratch copy,
// then the README's example (examples/library.ts, kept identical to the README block) type-checked against
// the built declarations and run against the built JavaScript, resolving 'sqlrl' through package.json exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/paths.js';

const run = (cmd: string, args: string[], cwd: string) => spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000 });

test('README example block = examples/library.ts', () => {
  const example = readFileSync(join(REPO_ROOT, 'examples/library.ts'), 'utf8').trimEnd();
  assert.ok(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').includes('```ts\n' + example + '\n```'), 'README.md must show examples/library.ts verbatim in a ```ts block');
});

test("the built package: the example type-checks against dist/*.d.ts and runs against dist/*.js through 'sqlrl'", { timeout: 300_000 }, () => {
  const pkg = mkdtempSync(join(tmpdir(), 'sqlrl-pkg-'));
  try {
    cpSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'));
    cpSync(join(REPO_ROOT, 'examples/library.ts'), join(pkg, 'examples/library.ts'));
    cpSync(join(REPO_ROOT, 'examples/custom-reward'), join(pkg, 'examples/custom-reward'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'examples/sample'), join(pkg, 'examples/sample'));
    const tsc = join(REPO_ROOT, 'node_modules/.bin/tsc');
    const build = run(tsc, ['-p', join(REPO_ROOT, 'tsconfig.json'), '--outDir', join(pkg, 'dist')], REPO_ROOT);
    assert.equal(build.status, 0, build.stdout + build.stderr);
    writeFileSync(join(pkg, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, include: ['examples/**/*.ts'] }));
    const check = run(tsc, ['-p', join(pkg, 'tsconfig.json')], pkg);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const out = run(process.execPath, ['--import', 'tsx', 'examples/library.ts'], pkg);
    assert.equal(out.status, 0, out.stdout + out.stderr);
    // sample example 0: 'How many customers are there?' -> SELECT count(*) FROM customers (30 characters)
    // think 'One row per customer: count them.' (33) + answer '```sql\nSELECT count(*) FROM customers\n```' (41)
    const length = ((33 + 41) / 2048) * 0.5 + 30 / 41;
    assert.match(out.stdout, new RegExp(`sql-r1: right ${(6 + length).toFixed(3)} \\{"format":1,"execution":2,"result":3,"length":[0-9.]+\\}; wrong 0 \\(mismatch\\)`));
    assert.match(out.stdout, /arctic\+short-sql: 1\.1 \{"execution":1,"short_sql":0\.1\}/);
    // every fourth of 36 predictions is wrong: 27 of 36
    assert.match(out.stdout, /EX 75\.0% on 36 examples/);
  } finally {
    rmSync(pkg, { recursive: true, force: true });
  }
});
