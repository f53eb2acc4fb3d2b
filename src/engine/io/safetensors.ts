// safetensors: an 8-byte header length, a JSON header {name: {dtype, shape, data_offsets}}, raw data.
// Read (F32 / F16 / BF16, converted to float32 per tensor by positioned reads) and write (F32).
import { closeSync, openSync, readSync, writeSync, renameSync, fstatSync } from 'node:fs';
import type { Tensor } from '../config.js';
import { f16ToF32 } from './gguf.js';

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export class SafetensorsFile {
  readonly entries = new Map<string, SafetensorsEntry>();
  readonly metadata: Record<string, string> = {};
  private readonly fd: number;
  private readonly dataStart: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    const size = fstatSync(this.fd).size;
    const head = Buffer.alloc(8);
    readSync(this.fd, head, 0, 8, 0);
    const n = Number(head.readBigUInt64LE(0));
    if (n <= 0 || n > size - 8) throw new Error(`${path} is not a safetensors file (header length ${n})`);
    const json = Buffer.alloc(n);
    readSync(this.fd, json, 0, n, 8);
    const header = JSON.parse(json.toString('utf8')) as Record<string, SafetensorsEntry | Record<string, string>>;
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') Object.assign(this.metadata, v);
      else this.entries.set(k, v as SafetensorsEntry);
    }
    this.dataStart = 8 + n;
  }

  read(name: string): Tensor {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: tensor '${name}' not found`);
    const [a, b] = e.data_offsets;
    const raw = Buffer.allocUnsafe(b - a);
    readSync(this.fd, raw, 0, b - a, this.dataStart + a);
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
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    for (const [, t] of entries) writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
