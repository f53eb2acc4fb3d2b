// Incremental, fault-tolerant reading of a run directory's JSONL files (docs/run-format.md):
// a reader remembers its byte offset, returns only complete new records, and leaves a last
// line that is still being written for the next read.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export type JsonRecord = Record<string, unknown>;

export interface JsonlChunk {
  records: JsonRecord[];
  /** Byte offset just after the last complete line consumed. */
  nextOffset: number;
  /** A last line without its newline that does not parse yet (the writer is mid-line). */
  pendingPartial: boolean;
  /** Complete lines that did not parse as a JSON object (skipped). */
  badLines: number;
}

/** Parses the complete lines of `text`; `text` starts at a line boundary. */
export function parseJsonlText(text: string): { records: JsonRecord[]; consumedChars: number; pendingPartial: boolean; badLines: number } {
  const records: JsonRecord[] = [];
  let badLines = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    const line = text.slice(start, nl).trim();
    start = nl + 1;
    if (!line) continue;
    const rec = parseObject(line);
    if (rec) records.push(rec);
    else badLines++;
  }
  const rest = text.slice(start).trim();
  let pendingPartial = false;
  if (rest) {
    // A final line without newline: take it only if it is already a whole object.
    const rec = parseObject(rest);
    if (rec) {
      records.push(rec);
      start = text.length;
    } else pendingPartial = true;
  }
  return { records, consumedChars: start, pendingPartial, badLines };
}

function parseObject(line: string): JsonRecord | null {
  try {
    const v: unknown = JSON.parse(line);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonRecord) : null;
  } catch {
    return null;
  }
}

/** Reads records appended to `file` since `offset`. A missing file reads as empty. */
export function readJsonlFrom(file: string, offset: number): JsonlChunk {
  if (!existsSync(file)) return { records: [], nextOffset: 0, pendingPartial: false, badLines: 0 };
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < offset) offset = 0; // the file was truncated or replaced: start over
    const buf = Buffer.alloc(size - offset);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    const text = buf.subarray(0, got).toString('utf8');
    const parsed = parseJsonlText(text);
    const consumedBytes = Buffer.byteLength(text.slice(0, parsed.consumedChars), 'utf8');
    return { records: parsed.records, nextOffset: offset + consumedBytes, pendingPartial: parsed.pendingPartial, badLines: parsed.badLines };
  } finally {
    closeSync(fd);
  }
}

export interface RunState {
  id: number;
  dir: string;
  name: string;
  config: JsonRecord | null;
  metrics: JsonRecord[];
  samples: JsonRecord[];
  problems: string[];
}

/** Follows one run directory: `poll()` returns what was appended since the last call. */
export class RunFollower {
  readonly state: RunState;
  private metricsOffset = 0;
  private samplesOffset = 0;
  private badLines = 0;

  constructor(id: number, dir: string) {
    const abs = resolve(dir);
    this.state = { id, dir: abs, name: basename(abs), config: null, metrics: [], samples: [], problems: [] };
  }

  poll(): { metrics: JsonRecord[]; samples: JsonRecord[]; changed: boolean } {
    const { dir } = this.state;
    const problems: string[] = [];
    if (!existsSync(dir)) problems.push(`run directory ${dir} does not exist`);
    if (this.state.config === null && existsSync(join(dir, 'config.json'))) {
      try {
        this.state.config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as JsonRecord;
      } catch {
        problems.push('config.json is not valid JSON');
      }
    }
    const m = readJsonlFrom(join(dir, 'metrics.jsonl'), this.metricsOffset);
    const s = readJsonlFrom(join(dir, 'samples.jsonl'), this.samplesOffset);
    if (m.nextOffset < this.metricsOffset) this.state.metrics = [];
    if (s.nextOffset < this.samplesOffset) this.state.samples = [];
    this.metricsOffset = m.nextOffset;
    this.samplesOffset = s.nextOffset;
    if (existsSync(dir) && !existsSync(join(dir, 'metrics.jsonl'))) problems.push('no metrics.jsonl yet');
    if (existsSync(dir) && !existsSync(join(dir, 'samples.jsonl'))) problems.push('no samples.jsonl yet');
    if (m.pendingPartial) problems.push('metrics.jsonl ends in a partial line (being written?)');
    if (s.pendingPartial) problems.push('samples.jsonl ends in a partial line (being written?)');
    this.badLines += m.badLines + s.badLines;
    if (this.badLines > 0) problems.push(`${this.badLines} line(s) that are not JSON objects were skipped`);
    this.state.metrics.push(...m.records);
    this.state.samples.push(...s.records);
    const changed = m.records.length > 0 || s.records.length > 0 || problems.join('|') !== this.state.problems.join('|');
    this.state.problems = problems;
    return { metrics: m.records, samples: s.records, changed };
  }
}
