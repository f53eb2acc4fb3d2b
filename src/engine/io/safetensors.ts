// safetensors: an 8-byte header length, a JSON header {name: {dtype, shape, data_offsets}}, raw data.
// Read (F32 / F16 / BF16, converted to float32 per tensor by positioned reads) and write (F32).
import { closeSync, openSync, writeSync, renameSync, fstatSync, rmSync } from 'node:fs';
import type { Tensor } from '../config.js';
import { f16ToF32, readFully } from './gguf.js';

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Bytes per element of the dtypes a header may name (the ones sqlrl reads, and the common others). */
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };

/** The safetensors format caps the JSON header at 100 MB. */
const MAX_HEADER = 100_000_000;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export class SafetensorsFile {
  readonly entries = new Map<string, SafetensorsEntry>();
  readonly metadata: Record<string, string> = {};
  private readonly fd: number;
  private readonly dataStart: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.dataStart = this.parse();
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** The header, with every entry's offsets checked against its shape and the file size; returns where data starts. */
  private parse(): number {
    const { path } = this;
    const size = fstatSync(this.fd).size;
    if (size < 8) throw new Error(`${path} is not a safetensors file (${size} bytes, shorter than the 8-byte header length)`);
    const head = Buffer.alloc(8);
    readFully(this.fd, head, 8, 0);
    const n = Number(head.readBigUInt64LE(0));
    if (n <= 0 || n > MAX_HEADER || n > size - 8) throw new Error(`${path} is not a safetensors file, or is truncated (header length ${n}, file size ${size} bytes)`);
    const json = Buffer.alloc(n);
    if (readFully(this.fd, json, n, 8) !== n) throw new Error(`${path}: could not read the ${n}-byte header`);
    let header: unknown;
    try {
      header = JSON.parse(json.toString('utf8'));
    } catch (err) {
      throw new Error(`${path}: the safetensors header is not valid JSON (${(err as Error).message}); the file is corrupt`);
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${path}: the safetensors header is not a JSON object`);
    const dataStart = 8 + n;
    const dataBytes = size - dataStart;
    for (const [k, v] of Object.entries(header as Record<string, unknown>)) {
      if (k === '__metadata__') {
        Object.assign(this.metadata, v);
        continue;
      }
      const e = v as Partial<SafetensorsEntry> | null;
      const bad = (what: string) => new Error(`${path}: tensor '${k}' ${what}`);
      if (!e || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !e.shape.every(isCount) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2 || !e.data_offsets.every(isCount)) {
        throw bad(`has a malformed header entry ${JSON.stringify(v).slice(0, 120)} (needs dtype, shape, data_offsets)`);
      }
      const [a, b] = e.data_offsets as [number, number];
      const elems = e.shape.reduce((x, y) => x * y, 1);
      const width = DTYPE_BYTES[e.dtype];
      if (b < a) throw bad(`has data_offsets [${a}, ${b}] that end before they start`);
      if (width !== undefined && b - a !== elems * width) throw bad(`has ${b - a} bytes of data but shape [${e.shape}] of ${e.dtype} needs ${elems * width}`);
      if (b > dataBytes) throw new Error(`${path}: truncated safetensors file: tensor '${k}' needs data up to byte ${dataStart + b} but the file has ${size} bytes`);
      this.entries.set(k, e as SafetensorsEntry);
    }
    return dataStart;
  }

  read(name: string): Tensor {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: tensor '${name}' not found`);
    const [a, b] = e.data_offsets;
    const raw = Buffer.allocUnsafe(b - a);
    const got = readFully(this.fd, raw, b - a, this.dataStart + a);
    if (got !== b - a) throw new Error(`${this.path}: tensor '${name}': read ${got} of ${b - a} bytes (was the file truncated while loading?)`);
    const n = e.shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    switch (e.dtype) {
      case 'F32':
        new Uint8Array(data.buffer).set(raw.subarray(0, n * 4));
        break;
      case 'F16':
        for (let i = 0; i < n; i++) data[i] = f16ToF32(raw.readUInt16LE(2 * i));
        break;
      case 'BF16': {
        const u = new Uint32Array(1);
        const f = new Float32Array(u.buffer);
        for (let i = 0; i < n; i++) {
          u[0] = raw.readUInt16LE(2 * i) << 16;
          data[i] = f[0]!;
        }
        break;
      }
      default:
        throw new Error(`${this.path}: tensor '${name}' has dtype ${e.dtype} (supported: F32, F16, BF16)`);
    }
    return { shape: [...e.shape], data };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Writes float32 tensors (sorted by name, 8-byte aligned header) atomically (tmp file, then rename). */
export function writeSafetensors(path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
      writeAll(fd, len);
      writeAll(fd, Buffer.from(json, 'utf8'));
      for (const [, t] of entries) writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    // ENOSPC and the like: no half file left behind, and the message says which file.
    rmSync(tmp, { force: true });
    throw Object.assign(new Error(`cannot write ${path}: ${(err as Error).message}`), { code: (err as NodeJS.ErrnoException).code });
  }
}

/** writeSync may write fewer bytes than asked; loop until all are written. */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.byteLength; ) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}
