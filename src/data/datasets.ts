// Dataset loaders: Spider, BIRD, SynSQL-2.5M, a generic JSONL, and the bundled sample. Each returns
// Examples in dataset order; a missing database file is not an error here (callers decide: evaluation reports
// it or skips it), but a missing question file is, with the flag that fixes it.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Example } from './types.js';
import { asRecords, dbPathFor, readJson, str } from './files.js';
import { loadJsonl } from './jsonl.js';
import { buildSampleDataset } from './sample.js';
import { loadSynth } from './synth.js';
import { loadSynsql } from './synsql.js';

export const DATASETS = ['spider', 'bird', 'synsql', 'jsonl', 'sample', 'builtin'] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface DatasetOptions {
  dataset: DatasetName;
  /** Spider/BIRD root directory; for jsonl, the file (or pass `file`). */
  dataDir?: string;
  /** 'dev' (default) or 'train'. */
  split?: string;
  /** jsonl file. */
  file?: string;
  /** Where the SQLite files live; defaults per dataset (Spider: DIR/database, BIRD: DIR/<split>_databases, SynSQL: DIR/databases). */
  dbDir?: string;
  /** SynSQL only (its file is ~9 GB): stop reading after this many examples. Other loaders read all; callers slice. */
  limit?: number;
  /** SynSQL only: keep these `sql_complexity` values. */
  complexity?: string[];
}

/**
 * Spider's `<split>.json`; the train split is `train_spider.json` followed by `train_others.json` (when
 * present), as the official release splits it. Ids are positional over that concatenation:
 * `spider-train-0000`..`spider-train-6999` are train_spider.json's 7000 records and `spider-train-7000`
 * onwards train_others.json's, so an outside script building the same ids counts the same way.
 */
export function loadSpider(dataDir: string, split = 'dev', dbDir?: string): Example[] {
  const files = split === 'train' ? ['train_spider.json', 'train_others.json'] : [`${split}.json`];
  const db = resolve(dbDir ?? join(dataDir, 'database'));
  const fix = 'pass --data-dir DIR holding dev.json, tables.json and database/; Spider is at https://yale-lily.github.io/spider';
  const out: Example[] = [];
  files.forEach((name, fileIndex) => {
    const file = resolve(dataDir, name);
    if (fileIndex > 0 && !existsSync(file)) return; // train_others.json is optional
    asRecords(readJson(file, 'Spider file', fix), file).forEach((rec, i) => {
      const dbId = str(rec, ['db_id'], file, i);
      const index = out.length;
      out.push({
        id: `spider-${split}-${String(index).padStart(4, '0')}`,
        index,
        question: str(rec, ['question'], file, i),
        dbId,
        dbPath: dbPathFor(db, dbId),
        goldSql: str(rec, ['query', 'SQL'], file, i),
      });
    });
  });
  return out;
}

export function loadBird(dataDir: string, split = 'dev', dbDir?: string): Example[] {
  const file = resolve(dataDir, `${split}.json`);
  const db = resolve(dbDir ?? join(dataDir, `${split}_databases`));
  const fix = 'pass --data-dir DIR holding dev.json and dev_databases/; BIRD is at https://bird-bench.github.io';
  return asRecords(readJson(file, 'BIRD file', fix), file).map((rec, i) => {
    const dbId = str(rec, ['db_id'], file, i);
    const evidence = typeof rec.evidence === 'string' && rec.evidence.trim() ? rec.evidence : undefined;
    const difficulty = typeof rec.difficulty === 'string' ? rec.difficulty : undefined;
    return {
      id: `bird-${split}-${String(i).padStart(4, '0')}`,
      index: i,
      question: str(rec, ['question'], file, i),
      dbId,
      dbPath: dbPathFor(db, dbId),
      goldSql: str(rec, ['SQL', 'sql', 'query'], file, i),
      ...(evidence ? { evidence } : {}),
      ...(difficulty ? { difficulty } : {}),
    };
  });
}

export function loadDataset(opts: DatasetOptions): Example[] {
  switch (opts.dataset) {
    case 'spider':
      if (!opts.dataDir) throw new Error('--data-dir is required for --dataset spider (the folder holding dev.json and database/)');
      return loadSpider(opts.dataDir, opts.split, opts.dbDir);
    case 'bird':
      if (!opts.dataDir) throw new Error('--data-dir is required for --dataset bird (the folder holding dev.json and dev_databases/)');
      return loadBird(opts.dataDir, opts.split, opts.dbDir);
    case 'synsql': {
      const source = opts.file ?? opts.dataDir;
      if (!source) throw new Error('--data-dir is required for --dataset synsql (the SynSQL-2.5M folder holding data.json and databases/), or --file with a JSON/JSONL subset');
      return loadSynsql(source, {
        ...(opts.dbDir ? { dbDir: opts.dbDir } : opts.file && opts.dataDir ? { dbDir: join(opts.dataDir, 'databases') } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        ...(opts.complexity ? { complexity: opts.complexity } : {}),
      });
    }
    case 'jsonl': {
      const file = opts.file ?? opts.dataDir;
      if (!file) throw new Error('--file is required for --dataset jsonl (a .jsonl file of {question, db_id|db_path, sql})');
      return loadJsonl(file, opts.dbDir);
    }
    case 'builtin':
      return loadSynth(opts.split === 'dev' ? 'heldout' : opts.split ?? 'train');
    case 'sample': {
      const sample = buildSampleDataset();
      return loadJsonl(sample.questionsFile, sample.dbDir);
    }
  }
}

/** Examples whose database file is missing, for `--skip-missing-db` and clear errors. */
export function missingDatabases(examples: Example[]): Example[] {
  const seen = new Map<string, boolean>();
  return examples.filter((e) => {
    let ok = seen.get(e.dbPath);
    if (ok === undefined) seen.set(e.dbPath, (ok = existsSync(e.dbPath)));
    return !ok;
  });
}
