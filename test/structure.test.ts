// The module structure of /work/shared/design/ARCHITECTURE.md, checked on the source: every import
// statement of src/**/*.ts (value, type-only, re-export, dynamic import(), import('…') types) is read,
// and the graph must have no cycle and follow the layer rules below, which are data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from './helpers/paths.js';

/** Modules without domain logic that any layer may import. */
const NEUTRAL = ['src/errors.ts', 'src/config-file.ts', 'src/random.ts', 'src/signals.ts', 'src/interfaces/'];

/**
 * Each layer (a folder or a file under src/, the longest prefix wins) and what of ours it may import
 * besides itself. Downward only: sql <- data <- reward <- rl <- run <- cli; engine stands apart and sees
 * only the seams (src/interfaces/), the seeded RNG and the errors.
 */
const LAYERS: Record<string, string[]> = {
  'src/errors.ts': [],
  'src/random.ts': [],
  'src/config-file.ts': ['src/errors.ts'],
  // process-level stop handling (signals, the npx launcher), used by servers and runs
  'src/signals.ts': [],
  'src/interfaces/': [],
  'src/sql/': [...NEUTRAL],
  'src/data/': [...NEUTRAL, 'src/sql/'],
  'src/reward/': [...NEUTRAL, 'src/sql/', 'src/data/'],
  'src/engine/': ['src/interfaces/', 'src/random.ts', 'src/errors.ts'],
  // rl sees sql only through what reward and data hand it (result types); it never sees the engine.
  'src/rl/': [...NEUTRAL, 'src/reward/', 'src/data/', 'src/sql/'],
  'src/eval/': [...NEUTRAL, 'src/sql/', 'src/data/', 'src/reward/'],
  // serve: reward, eval, and what those import
  'src/serve/': [...NEUTRAL, 'src/reward/', 'src/eval/', 'src/sql/', 'src/data/'],
  // run: the wiring of a training run from one TrainConfig, everything below the CLI
  // `sqlrl prepare`: datasets and prompts written out for GPU engines
  'src/prepare/': [...NEUTRAL, 'src/sql/', 'src/data/', 'src/reward/', 'src/engine/'],
  'src/run/': [...NEUTRAL, 'src/sql/', 'src/data/', 'src/reward/', 'src/engine/', 'src/rl/', 'src/eval/', 'src/serve/'],
  // the library API (import from 'sqlrl'): a facade over everything below the CLI
  'src/index.ts': [...NEUTRAL, 'src/sql/', 'src/data/', 'src/reward/', 'src/engine/', 'src/rl/', 'src/eval/', 'src/serve/', 'src/run/', 'src/prepare/'],
  'src/cli/': ['src/'],
  // benchmarks call the library like any user of it; a CLI command is not a library entry point
  'bench/': ['src/errors.ts', 'src/config-file.ts', 'src/random.ts', 'src/interfaces/', 'src/sql/', 'src/data/', 'src/reward/', 'src/engine/', 'src/rl/', 'src/run/', 'src/eval/', 'src/serve/', 'bench/'],
};

/**
 * Imports that break a rule today, "from -> to", each to be removed with the code change that fixes it.
 * The test fails if a listed import no longer exists, so the list only shrinks.
 */
const KNOWN_VIOLATIONS: string[] = [];

// --- reading imports -------------------------------------------------------------------------------

/**
 * Module specifiers of the import statements in TypeScript source: `import … from`, `import type … from`,
 * `export … from`, side-effect `import '…'`, and `import('…')` (dynamic, or in a type position). The
 * import clause may only hold what an import clause holds (names, braces, commas, `* as`, `type`), so text
 * in comments and strings does not count.
 */
function importSpecifiers(source: string): string[] {
  const statement = /(?:^|[;\n])[ \t]*(?:import|export)\s+(?:type\s+)?(?:[\w$\s{},*]*?\bfrom\s*)?(['"])([^'"\n]+)\1/g;
  const call = /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g;
  return [...[...source.matchAll(statement)].map((m) => m[2]!), ...[...source.matchAll(call)].map((m) => m[2]!)];
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Our files each file imports (repo-relative paths; `./x.js` is the source `./x.ts`). */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const from = relative(REPO_ROOT, file);
    const targets = importSpecifiers(readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => relative(REPO_ROOT, resolve(dirname(file), s.replace(/\.js$/, '.ts'))));
    graph.set(from, [...new Set(targets)]);
  }
  return graph;
}

/** One cycle of the graph as a path that returns to its start (a -> b -> a), or null. */
function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') return [...path.slice(path.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    path.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return null;
}

/** The layer of a path: the longest LAYERS key it starts with. */
function layerOf(path: string): string | undefined {
  return Object.keys(LAYERS)
    .filter((k) => path === k || (k.endsWith('/') && path.startsWith(k)))
    .sort((a, b) => b.length - a.length)[0];
}

function violations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const layer = layerOf(from);
    if (!layer) {
      out.push(`${from} belongs to no layer (add it to LAYERS in test/structure.test.ts)`);
      continue;
    }
    const allowed = [layer, ...LAYERS[layer]!];
    for (const to of targets) {
      if (!to.startsWith('src/') && !to.startsWith('bench/')) continue;
      if (!allowed.some((a) => to === a || (a.endsWith('/') && to.startsWith(a)))) out.push(`${from} -> ${to}`);
    }
  }
  return out.sort();
}

// --- the reader and the cycle finder on inputs worked out by hand ----------------------------------

test('the import reader finds every form of import and nothing in comments or strings', () => {
  const source = [
    "import { a } from './a.js';",
    "import type { B } from '../b/b.js';",
    'import {',
    '  c,',
    '  type D,',
    "} from './c.js';",
    "import * as e from './e.js';",
    "export { f } from './f.js';",
    "export * from './g.js';",
    "export type { H } from './h.js';",
    "import './side-effect.js';",
    "const { i } = await import('./i.js');",
    "let j: import('./j.js').J;",
    "import { z } from 'zod';",
    '// this line is copied from "./not-a-comment-import.js"',
    "const s = 'import x from ./not-a-string-import.js';",
    "export const k = 'from ./not-an-export.js';",
  ].join('\n');
  assert.deepEqual(importSpecifiers(source), ['./a.js', '../b/b.js', './c.js', './e.js', './f.js', './g.js', './h.js', './side-effect.js', 'zod', './i.js', './j.js']);
});

test('the cycle finder returns a cycle as a closed path, and null on a DAG', () => {
  assert.deepEqual(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['b']]])), ['b', 'c', 'b']);
  assert.deepEqual(findCycle(new Map([['a', ['a']]])), ['a', 'a']);
  assert.equal(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), null);
});

// --- the rules on the source ---------------------------------------------------------------------

const srcGraph = importGraph(tsFiles(join(REPO_ROOT, 'src')));

test('src/ has no import cycle (type-only and dynamic imports count)', () => {
  const cycle = findCycle(srcGraph);
  assert.equal(cycle, null, `import cycle: ${cycle?.join(' -> ')}`);
});

test('every import in src/ resolves to a source file', () => {
  const missing = [...srcGraph].flatMap(([from, targets]) => targets.filter((t) => !srcGraph.has(t)).map((t) => `${from} -> ${t}`));
  assert.deepEqual(missing, []);
});

test('src/engine/ imports nothing of ours but src/interfaces/, src/random.ts and src/errors.ts', () => {
  const allowed = (t: string) => t.startsWith('src/engine/') || t.startsWith('src/interfaces/') || t === 'src/random.ts' || t === 'src/errors.ts';
  const bad = [...srcGraph].filter(([from]) => from.startsWith('src/engine/')).flatMap(([from, targets]) => targets.filter((t) => !allowed(t)).map((t) => `${from} -> ${t}`));
  assert.deepEqual(bad, []);
});

test('layers import downward only (ARCHITECTURE.md module table), except the known violations listed here', () => {
  const graph = new Map([...srcGraph, ...importGraph(readdirSync(join(REPO_ROOT, 'bench')).filter((f) => f.endsWith('.ts')).map((f) => join(REPO_ROOT, 'bench', f)))]);
  const found = violations(graph);
  const unexpected = found.filter((v) => !KNOWN_VIOLATIONS.includes(v));
  const fixed = KNOWN_VIOLATIONS.filter((v) => !found.includes(v));
  assert.deepEqual(unexpected, [], 'imports that break the layer rules');
  assert.deepEqual(fixed, [], 'KNOWN_VIOLATIONS entries that no longer occur: remove them from the list');
});
