// The built-in benchmark: a seeded, deterministic text-to-SQL generator. Four small SQLite databases
// with realistic schemas and generated rows (shop, school, flights; library is held out), and
// questions with gold SQL from templates spanning SELECT/WHERE, COUNT and other aggregates,
// GROUP BY/HAVING, ORDER BY…LIMIT, JOINs and nested queries, each with several paraphrases.
// Splits: train (for SFT); rl (more instances on the training databases, never in train: prompts for
// RL, whose gold SQL only feeds the execution reward); held-out = unseen template instances on the
// training databases + questions on the unseen database. One paraphrase of each template is held back
// from train: rl and held-out use it, so part of what they ask is worded in ways SFT never saw. Every gold query executes and returns rows (checked while generating).
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { rng } from '../random.js';
import { loadJsonl } from './jsonl.js';
import { sqlrlCacheDir } from './sample.js';
import type { Example } from './types.js';

type Kind = 'text' | 'int' | 'real';
interface ColumnSpec {
  name: string;
  kind: Kind;
  /** Values drawn for rows (text) or a [min, max] range (numbers). */
  values?: string[];
  range?: [number, number];
  /** A category column (few distinct values): grouped by and filtered on. */
  category?: boolean;
}
interface TableSpec {
  name: string;
  singular: string;
  rows: number;
  columns: ColumnSpec[];
  /** Child table: column `<parent>_id` references parent.id. */
  parent?: string;
}
interface DbSpec {
  name: string;
  tables: TableSpec[];
}

const FIRST = ['Ada', 'Ben', 'Cleo', 'Dan', 'Eva', 'Finn', 'Gia', 'Hugo', 'Ines', 'Jon', 'Kai', 'Lea', 'Max', 'Nia', 'Omar', 'Pia', 'Raj', 'Sara', 'Tom', 'Uma', 'Vic', 'Wen', 'Yara', 'Zoe'];
const LAST = ['Smith', 'Lopez', 'Chen', 'Novak', 'Kim', 'Berg', 'Costa', 'Haddad', 'Okafor', 'Sato', 'Weber', 'Moreau'];
const CITIES = ['Lyon', 'Porto', 'Oslo', 'Seoul', 'Prague', 'Lima', 'Cairo', 'Quito'];

export const SYNTH_DBS: DbSpec[] = [
  {
    name: 'shop',
    tables: [
      { name: 'customer', singular: 'customer', rows: 30, columns: [{ name: 'name', kind: 'text' }, { name: 'city', kind: 'text', values: CITIES, category: true }, { name: 'age', kind: 'int', range: [18, 80] }] },
      { name: 'product', singular: 'product', rows: 25, columns: [{ name: 'name', kind: 'text', values: ['lamp', 'chair', 'desk', 'pen', 'mug', 'clock', 'shelf', 'sofa', 'rug', 'vase', 'kettle', 'fan', 'bowl', 'tray', 'stool'] }, { name: 'category', kind: 'text', values: ['home', 'office', 'kitchen', 'garden'], category: true }, { name: 'price', kind: 'int', range: [2, 400] }] },
      { name: 'purchase', singular: 'purchase', rows: 60, parent: 'customer', columns: [{ name: 'amount', kind: 'int', range: [5, 900] }, { name: 'status', kind: 'text', values: ['paid', 'shipped', 'returned'], category: true }] },
    ],
  },
  {
    name: 'school',
    tables: [
      { name: 'teacher', singular: 'teacher', rows: 12, columns: [{ name: 'name', kind: 'text' }, { name: 'subject', kind: 'text', values: ['math', 'physics', 'history', 'art', 'music'], category: true }, { name: 'salary', kind: 'int', range: [30, 90] }] },
      { name: 'student', singular: 'student', rows: 40, parent: 'teacher', columns: [{ name: 'name', kind: 'text' }, { name: 'grade', kind: 'int', range: [1, 12] }, { name: 'score', kind: 'int', range: [40, 100] }, { name: 'city', kind: 'text', values: CITIES, category: true }] },
    ],
  },
  {
    name: 'flights',
    tables: [
      { name: 'airline', singular: 'airline', rows: 8, columns: [{ name: 'name', kind: 'text', values: ['Aerix', 'Bluejet', 'Condor', 'Deltora', 'Eagle', 'Falco', 'Gullwing', 'Heron'] }, { name: 'country', kind: 'text', values: ['France', 'Peru', 'Norway', 'Korea', 'Egypt'], category: true }, { name: 'fleet', kind: 'int', range: [5, 300] }] },
      { name: 'flight', singular: 'flight', rows: 50, parent: 'airline', columns: [{ name: 'origin', kind: 'text', values: CITIES, category: true }, { name: 'destination', kind: 'text', values: CITIES, category: true }, { name: 'distance', kind: 'int', range: [200, 9000] }, { name: 'seats', kind: 'int', range: [50, 400] }] },
    ],
  },
  {
    name: 'library',
    tables: [
      { name: 'author', singular: 'author', rows: 15, columns: [{ name: 'name', kind: 'text' }, { name: 'country', kind: 'text', values: ['France', 'Peru', 'Norway', 'Korea', 'Egypt'], category: true }, { name: 'born', kind: 'int', range: [1900, 1990] }] },
      { name: 'book', singular: 'book', rows: 45, parent: 'author', columns: [{ name: 'title', kind: 'text', values: ['Dawn', 'Rivers', 'Glass', 'Orbit', 'Ember', 'Tides', 'Stone', 'Maps', 'Echo', 'Frost', 'Dunes', 'Lanterns'] }, { name: 'genre', kind: 'text', values: ['novel', 'poetry', 'essay', 'drama'], category: true }, { name: 'pages', kind: 'int', range: [80, 900] }] },
    ],
  },
];

export const HELD_OUT_DB = 'library';

const plural = (s: string) => (s.endsWith('y') ? `${s.slice(0, -1)}ies` : s.endsWith('s') || s.endsWith('ch') ? `${s}es` : `${s}s`);

/** Creates the database file with seeded rows. */
function buildDb(spec: DbSpec, file: string, random: () => number): void {
  const db = new Database(file);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  try {
    for (const t of spec.tables) {
      const cols = ['id INTEGER PRIMARY KEY', ...t.columns.map((c) => `${c.name} ${c.kind === 'text' ? 'TEXT' : c.kind === 'int' ? 'INTEGER' : 'REAL'}`)];
      if (t.parent) cols.push(`${t.parent}_id INTEGER REFERENCES ${t.parent}(id)`);
      db.exec(`CREATE TABLE ${t.name} (${cols.join(', ')})`);
      const parentRows = t.parent ? spec.tables.find((p) => p.name === t.parent)!.rows : 0;
      const insert = db.prepare(`INSERT INTO ${t.name} VALUES (${['?', ...t.columns.map(() => '?'), ...(t.parent ? ['?'] : [])].join(', ')})`);
      const usedNames = new Set<string>();
      for (let i = 1; i <= t.rows; i++) {
        const row: (string | number)[] = [i];
        for (const c of t.columns) {
          if (c.kind === 'text') {
            let v = c.values ? pick(c.values) : `${pick(FIRST)} ${pick(LAST)}`;
            if (c.name === 'name' && !c.values) {
              while (usedNames.has(v)) v = `${pick(FIRST)} ${pick(LAST)}`;
              usedNames.add(v);
            }
            row.push(v);
          } else {
            const [lo, hi] = c.range!;
            row.push(lo + Math.floor(random() * (hi - lo + 1)));
          }
        }
        if (t.parent) row.push(1 + Math.floor(random() * parentRows));
        insert.run(...row);
      }
    }
  } finally {
    db.close();
  }
}

interface Question {
  question: string;
  sql: string;
  template: string;
}

/**
 * Phrasings: 'sft' draws every paraphrase but the last of each template; 'all' draws any. The SFT split
 * uses 'sft', so a third to a half of the RL and held-out questions are worded in ways SFT never showed:
 * learning them from the execution reward alone is what the RL stage is for.
 */
type Phrasing = 'sft' | 'all';

/** Every template instantiated with random parameters drawn from the database's own rows. */
function instantiate(spec: DbSpec, db: Database.Database, random: () => number, phrasing: Phrasing = 'all'): Question[] {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  const out: Question[] = [];
  const phrase = (variants: string[]) => pick(phrasing === 'sft' && variants.length > 1 ? variants.slice(0, -1) : variants);
  const values = (t: string, c: string) => (db.prepare(`SELECT DISTINCT ${c} AS v FROM ${t} ORDER BY ${c}`).all() as { v: string | number }[]).map((r) => r.v);
  const q = (template: string, variants: string[], sql: string) => out.push({ template, question: phrase(variants), sql });
  for (const t of spec.tables) {
    const P = plural(t.singular);
    const label = t.columns.find((c) => c.kind === 'text' && !c.category)?.name ?? t.columns.find((c) => c.kind === 'text')?.name ?? 'id';
    const cats = t.columns.filter((c) => c.category);
    const nums = t.columns.filter((c) => c.kind !== 'text');
    q('count', [`How many ${P} are there?`, `Count the ${P}.`, `What is the number of ${P}?`], `SELECT count(*) FROM ${t.name}`);
    q('list', [`List the ${label} of all ${P}.`, `Show the ${label} of every ${t.singular}.`, `What are the ${label} values of the ${P}?`], `SELECT ${label} FROM ${t.name}`);
    for (const cat of cats) {
      const v = pick(values(t.name, cat.name)) as string;
      q('where_eq', [`List the ${label} of ${P} whose ${cat.name} is ${v}.`, `Which ${P} have ${cat.name} ${v}? Give their ${label}.`, `Show the ${label} of the ${P} with ${cat.name} ${v}.`], `SELECT ${label} FROM ${t.name} WHERE ${cat.name} = '${v}'`);
      q('count_where', [`How many ${P} have ${cat.name} ${v}?`, `Count the ${P} whose ${cat.name} is ${v}.`, `What is the number of ${P} with ${cat.name} ${v}?`], `SELECT count(*) FROM ${t.name} WHERE ${cat.name} = '${v}'`);
      q('group_count', [`How many ${P} are there for each ${cat.name}?`, `Count the ${P} in each ${cat.name}.`, `For each ${cat.name}, give the number of ${P}.`], `SELECT ${cat.name}, count(*) FROM ${t.name} GROUP BY ${cat.name}`);
      const counts = (db.prepare(`SELECT count(*) AS n FROM ${t.name} GROUP BY ${cat.name}`).all() as { n: number }[]).map((r) => r.n).sort((a, b) => a - b);
      const n = counts[Math.floor(counts.length / 2)]! - 1;
      q('having', [`Which ${cat.name} values have more than ${n} ${P}?`, `List each ${cat.name} with more than ${n} ${P}.`, `Give the ${cat.name} values that have over ${n} ${P}.`], `SELECT ${cat.name} FROM ${t.name} GROUP BY ${cat.name} HAVING count(*) > ${n}`);
      q('distinct', [`List the distinct ${cat.name} values of the ${P}.`, `What are the different ${cat.name} values of ${P}?`, `Show each distinct ${cat.name} of the ${P}.`], `SELECT DISTINCT ${cat.name} FROM ${t.name}`);
    }
    for (const num of nums) {
      const vs = values(t.name, num.name) as number[];
      const th = vs[Math.floor(vs.length * (0.2 + 0.6 * random()))]!;
      q('where_gt', [`List the ${label} of ${P} with ${num.name} greater than ${th}.`, `Which ${P} have ${num.name} above ${th}? Give their ${label}.`, `Show the ${label} of ${P} whose ${num.name} is more than ${th}.`], `SELECT ${label} FROM ${t.name} WHERE ${num.name} > ${th}`);
      q('where_lt', [`List the ${label} of ${P} with ${num.name} less than ${th}.`, `Which ${P} have ${num.name} below ${th}? Give their ${label}.`, `Show the ${label} of ${P} whose ${num.name} is under ${th}.`], `SELECT ${label} FROM ${t.name} WHERE ${num.name} < ${th}`);
      const [fn, word] = pick([['avg', 'average'], ['max', 'maximum'], ['min', 'minimum'], ['sum', 'total']] as const);
      q(`agg_${fn}`, [`What is the ${word} ${num.name} of all ${P}?`, `Give the ${word} ${num.name} of the ${P}.`, `Find the ${word} ${num.name} over all ${P}.`], `SELECT ${fn}(${num.name}) FROM ${t.name}`);
      const [dir, most] = pick([['DESC', 'highest'], ['ASC', 'lowest']] as const);
      q('top1', [`Which ${t.singular} has the ${most} ${num.name}? Give its ${label}.`, `What is the ${label} of the ${t.singular} with the ${most} ${num.name}?`, `Find the ${label} of the ${t.singular} whose ${num.name} is the ${most}.`], `SELECT ${label} FROM ${t.name} ORDER BY ${num.name} ${dir} LIMIT 1`);
      q('order', [`List the ${label} of all ${P} ordered by ${num.name} from ${dir === 'ASC' ? 'lowest to highest' : 'highest to lowest'}.`, `Sort the ${P} by ${num.name} ${dir === 'ASC' ? 'ascending' : 'descending'} and give their ${label}.`], `SELECT ${label} FROM ${t.name} ORDER BY ${num.name} ${dir}`);
      q('nested_avg', [`List the ${label} of ${P} whose ${num.name} is above the average ${num.name}.`, `Which ${P} have a ${num.name} higher than average? Give their ${label}.`], `SELECT ${label} FROM ${t.name} WHERE ${num.name} > (SELECT avg(${num.name}) FROM ${t.name})`);
      for (const cat of cats.slice(0, 1)) {
        const v = pick(values(t.name, cat.name)) as string;
        q('agg_where', [`What is the average ${num.name} of ${P} whose ${cat.name} is ${v}?`, `Give the average ${num.name} of the ${P} with ${cat.name} ${v}.`], `SELECT avg(${num.name}) FROM ${t.name} WHERE ${cat.name} = '${v}'`);
      }
    }
    if (t.parent) {
      const parent = spec.tables.find((p) => p.name === t.parent)!;
      const plabel = parent.columns.find((c) => c.kind === 'text')!.name;
      const pv = pick(values(parent.name, plabel)) as string;
      const join = `FROM ${t.name} AS T1 JOIN ${parent.name} AS T2 ON T1.${parent.name}_id = T2.id`;
      q('join_where', [`List the ${label} of ${P} whose ${parent.singular} ${plabel} is ${pv}.`, `Which ${P} belong to the ${parent.singular} with ${plabel} ${pv}? Give their ${label}.`], `SELECT T1.${label} ${join} WHERE T2.${plabel} = '${pv}'`);
      q('join_count', [`How many ${P} does each ${parent.singular} have? Give the ${parent.singular} ${plabel} and the count.`, `For each ${parent.singular}, show its ${plabel} and the number of ${P}.`], `SELECT T2.${plabel}, count(*) ${join} GROUP BY T2.${plabel}`);
      q('join_count_where', [`How many ${P} belong to the ${parent.singular} with ${plabel} ${pv}?`, `Count the ${P} of the ${parent.singular} whose ${plabel} is ${pv}.`], `SELECT count(*) ${join} WHERE T2.${plabel} = '${pv}'`);
      const pnum = parent.columns.find((c) => c.kind !== 'text');
      if (pnum) {
        const th = (values(parent.name, pnum.name) as number[])[Math.floor(values(parent.name, pnum.name).length / 2)]!;
        q('nested_in', [`List the ${label} of ${P} whose ${parent.singular} has ${pnum.name} greater than ${th}.`, `Which ${P} have a ${parent.singular} with ${pnum.name} above ${th}? Give their ${label}.`], `SELECT ${label} FROM ${t.name} WHERE ${parent.name}_id IN (SELECT id FROM ${parent.name} WHERE ${pnum.name} > ${th})`);
      }
    }
  }
  return out;
}

export interface SynthBenchmark {
  dir: string;
  trainFile: string;
  rlFile: string;
  heldoutFile: string;
}

export interface SynthOptions {
  seed?: number;
  /** Rounds of template instantiation on the training databases. */
  trainRounds?: number;
  heldoutRounds?: number;
  outDir?: string;
}

/** Generates (once per seed and options; cached) the benchmark folder. */
export function generateSynth(opts: SynthOptions = {}): SynthBenchmark {
  const seed = opts.seed ?? 0;
  const trainRounds = opts.trainRounds ?? 30;
  const heldRounds = opts.heldoutRounds ?? 40;
  const dir = opts.outDir ?? join(sqlrlCacheDir(), 'synth', `v4-seed${seed}-r${trainRounds}-${heldRounds}`);
  const bench = { dir, trainFile: join(dir, 'train.jsonl'), rlFile: join(dir, 'rl.jsonl'), heldoutFile: join(dir, 'heldout.jsonl') };
  if (existsSync(bench.heldoutFile)) return bench;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const random = rng(seed * 7919 + 1);
  const train: string[] = [];
  const rl: string[] = [];
  const held: string[] = [];
  const seen = new Set<string>();
  for (const spec of SYNTH_DBS) {
    const file = join(tmp, `${spec.name}.sqlite`);
    buildDb(spec, file, random);
    const db = new Database(file, { readonly: true });
    try {
      const isHeldDb = spec.name === HELD_OUT_DB;
      const emit = (qs: Question[], into: string[], split: string) => {
        for (const x of qs) {
          const key = `${spec.name}|${x.question}`;
          if (seen.has(key)) continue;
          const rows = db.prepare(x.sql).all();
          if (rows.length === 0) continue; // every gold query returns rows
          seen.add(key);
          into.push(JSON.stringify({ id: `synth-${split}-${String(into.length).padStart(4, '0')}`, question: x.question, db_id: spec.name, sql: x.sql, difficulty: x.template }));
        }
      };
      if (isHeldDb) {
        const before = held.length;
        for (let r = 0; r < heldRounds && held.length - before < 60; r++) emit(instantiate(spec, db, random), held, 'heldout');
        held.splice(before + 60);
      }
      else {
        for (let r = 0; r < trainRounds; r++) emit(instantiate(spec, db, random, 'sft'), train, 'train');
        for (let r = 0; r < trainRounds; r++) emit(instantiate(spec, db, random), rl, 'rl');
        // unseen instances: fresh draws whose question text never appeared in train
        for (let r = 0; r < heldRounds; r++) emit(instantiate(spec, db, random), held, 'heldout');
      }
    } finally {
      db.close();
    }
  }
  writeFileSync(join(tmp, 'train.jsonl'), train.join('\n') + '\n');
  writeFileSync(join(tmp, 'rl.jsonl'), rl.join('\n') + '\n');
  writeFileSync(join(tmp, 'heldout.jsonl'), held.join('\n') + '\n');
  mkdirSync(join(dir, '..'), { recursive: true });
  try {
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(bench.heldoutFile)) throw err;
  }
  return bench;
}

export function loadSynth(split: 'train' | 'rl' | 'heldout' | string, opts: SynthOptions = {}): Example[] {
  const b = generateSynth(opts);
  const file = { train: b.trainFile, rl: b.rlFile, heldout: b.heldoutFile, dev: b.heldoutFile }[split];
  if (!file) throw new Error(`unknown split '${split}' of the built-in benchmark (train, rl or heldout)`);
  return loadJsonl(file, b.dir);
}
