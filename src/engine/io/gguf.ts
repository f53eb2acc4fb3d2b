// GGUF (llama.cpp's single-file format, v2/v3): metadata, tensor directory, and dequantization of
// F32 / F16 / BF16 / Q8_0 / Q4_0 / Q4_1 / Q6_K tensors to float32 one tensor at a time (the file is
// read through positioned reads, never held whole in memory).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** GGUF order: dims[0] is the contiguous one (so [in, out] for a [out, in] weight). */
  dims: number[];
  type: number;
  /** Absolute byte offset in the file. */
  offset: number;
  size: number;
}

export const GGML_TYPES: Record<number, { name: string; blockElems: number; blockBytes: number }> = {
  0: { name: 'F32', blockElems: 1, blockBytes: 4 },
  1: { name: 'F16', blockElems: 1, blockBytes: 2 },
  2: { name: 'Q4_0', blockElems: 32, blockBytes: 18 },
  3: { name: 'Q4_1', blockElems: 32, blockBytes: 20 },
  8: { name: 'Q8_0', blockElems: 32, blockBytes: 34 },
  14: { name: 'Q6_K', blockElems: 256, blockBytes: 210 },
  30: { name: 'BF16', blockElems: 1, blockBytes: 2 },
};
const TYPE_NAMES: Record<number, string> = { 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL' };

export const SUPPORTED_GGUF_TYPES = Object.values(GGML_TYPES).map((t) => t.name);

/** Reads exactly `length` bytes at `position` (readSync may return fewer); returns how many it got. */
export function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** GGML_MAX_DIMS: a tensor has at most four dimensions. */
const MAX_DIMS = 4;

export class GgufFile {
  readonly metadata = new Map<string, GgufValue>();
  readonly tensors = new Map<string, GgufTensorInfo>();
  readonly version: number;
  readonly fileSize: number;
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.fileSize = fstatSync(this.fd).size;
      this.version = this.parse();
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** Header, metadata and tensor directory; every count, length and offset checked against the file size. */
  private parse(): number {
    const { path, fileSize } = this;
    // What is being read, for errors: "metadata key 'x'", "tensor 'y'".
    let where = 'header';
    const bad = (what: string) => new Error(`${path}: bad GGUF ${where}: ${what}`);
    // The header is small; read it in growing chunks.
    let buf = Buffer.alloc(Math.min(fileSize, 16 << 20));
    if (readFully(this.fd, buf, buf.length, 0) !== buf.length) throw new Error(`${path}: could not read the GGUF header`);
    let pos = 0;
    const need = (n: number) => {
      if (pos + n > fileSize) throw new Error(`${path}: truncated GGUF file: the ${where} needs byte ${pos + n} but the file has ${fileSize} bytes`);
      if (pos + n > buf.length) {
        const bigger = Buffer.alloc(Math.min(fileSize, Math.max(buf.length * 4, pos + n)));
        if (readFully(this.fd, bigger, bigger.length, 0) !== bigger.length) throw new Error(`${path}: could not read the GGUF header`);
        buf = bigger;
      }
    };
    const u32 = () => (need(4), (pos += 4), buf.readUInt32LE(pos - 4));
    const u64 = () => {
      need(8);
      pos += 8;
      const v = buf.readBigUInt64LE(pos - 8);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`value ${v} at byte ${pos - 8} is out of range`);
      return Number(v);
    };
    /** A count of items of at least `minBytes` each that must fit in the rest of the file. */
    const count = (what: string, minBytes: number) => {
      const n = u64();
      if (n * minBytes > fileSize - pos) throw bad(`${what} ${n} at byte ${pos - 8} cannot fit in a ${fileSize}-byte file (corrupt or truncated)`);
      return n;
    };
    const str = () => {
      const n = count('string length', 1);
      need(n);
      pos += n;
      return buf.toString('utf8', pos - n, pos);
    };
    const value = (type: number): GgufValue => {
      switch (type) {
        case 0: return need(1), (pos += 1), buf.readUInt8(pos - 1);
        case 1: return need(1), (pos += 1), buf.readInt8(pos - 1);
        case 2: return need(2), (pos += 2), buf.readUInt16LE(pos - 2);
        case 3: return need(2), (pos += 2), buf.readInt16LE(pos - 2);
        case 4: return u32();
        case 5: return need(4), (pos += 4), buf.readInt32LE(pos - 4);
        case 6: return need(4), (pos += 4), buf.readFloatLE(pos - 4);
        case 7: return need(1), (pos += 1), buf.readUInt8(pos - 1) !== 0;
        case 8: return str();
        case 9: {
          const t = u32();
          const n = count('array length', 1);
          const arr: GgufValue[] = new Array(n);
          for (let i = 0; i < n; i++) arr[i] = value(t);
          return arr;
        }
        case 10: return need(8), (pos += 8), buf.readBigUInt64LE(pos - 8);
        case 11: return need(8), (pos += 8), buf.readBigInt64LE(pos - 8);
        case 12: return need(8), (pos += 8), buf.readDoubleLE(pos - 8);
        default: throw bad(`unknown metadata value type ${type}`);
      }
    };
    if (fileSize < 4 || buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${path} is not a GGUF file (bad magic)`);
    pos = 4;
    const version = u32();
    if (version < 2) throw new Error(`${path}: GGUF version ${version} is not supported (need 2 or 3)`);
    const nTensors = count('tensor count', 8);
    const nKv = count('metadata count', 8);
    for (let i = 0; i < nKv; i++) {
      where = `metadata entry ${i}`;
      const key = str();
      where = `metadata key '${key}'`;
      this.metadata.set(key, value(u32()));
    }
    const infos: Omit<GgufTensorInfo, 'size'>[] = [];
    for (let i = 0; i < nTensors; i++) {
      where = `tensor entry ${i}`;
      const name = str();
      where = `tensor '${name}'`;
      const nd = u32();
      if (nd < 1 || nd > MAX_DIMS) throw bad(`${nd} dimensions (1 to ${MAX_DIMS} allowed)`);
      const dims: number[] = [];
      for (let d = 0; d < nd; d++) dims.push(u64());
      const type = u32();
      const offset = u64();
      infos.push({ name, dims, type, offset });
    }
    where = 'metadata';
    const alignment = Number(this.metadata.get('general.alignment') ?? 32);
    if (!Number.isInteger(alignment) || alignment <= 0) throw bad(`general.alignment ${String(this.metadata.get('general.alignment'))} is not a positive integer`);
    const dataStart = Math.ceil(pos / alignment) * alignment;
    for (const t of infos) {
      where = `tensor '${t.name}'`;
      const info = GGML_TYPES[t.type];
      const n = t.dims.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(n)) throw bad(`dimensions [${t.dims}] are out of range`);
      if (info && n % info.blockElems !== 0) throw bad(`${n} elements is not a whole number of ${info.name} blocks of ${info.blockElems}`);
      const size = info ? (n / info.blockElems) * info.blockBytes : 0;
      const offset = dataStart + t.offset;
      if (offset + size > fileSize) {
        throw new Error(`${path}: truncated GGUF file: tensor '${t.name}' needs bytes ${offset} to ${offset + size} but the file has ${fileSize} bytes`);
      }
      this.tensors.set(t.name, { ...t, offset, size });
    }
    return version;
  }

  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  /** A tensor dequantized to float32, in GGUF element order (= row-major [dims[last]..dims[0]]). */
  read(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: tensor '${name}' not found`);
    const info = GGML_TYPES[t.type];
    if (!info) {
      const typeName = TYPE_NAMES[t.type] ?? `type ${t.type}`;
      throw new Error(`${this.path}: tensor '${name}' is ${typeName}, which sqlrl cannot dequantize (supported: ${SUPPORTED_GGUF_TYPES.join(', ')})`);
    }
    const raw = Buffer.allocUnsafe(t.size);
    const got = readFully(this.fd, raw, t.size, t.offset);
    if (got !== t.size) throw new Error(`${this.path}: tensor '${name}': read ${got} of ${t.size} bytes at offset ${t.offset} (was the file truncated while loading?)`);
    const n = t.dims.reduce((a, b) => a * b, 1);
    return dequantize(t.type, raw, n);
  }

  close(): void {
    closeSync(this.fd);
  }
}

const F16_TABLE = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    table[h] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return table;
})();

export function f16ToF32(h: number): number {
  return F16_TABLE[h]!;
}

export function dequantize(type: number, raw: Buffer, n: number): Float32Array {
  const out = new Float32Array(n);
  switch (type) {
    case 0:
      new Uint8Array(out.buffer).set(raw.subarray(0, n * 4));
      return out;
    case 1:
      for (let i = 0; i < n; i++) out[i] = F16_TABLE[raw.readUInt16LE(2 * i)]!;
      return out;
    case 30: {
      const u = new Uint32Array(1);
      const f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = raw.readUInt16LE(2 * i) << 16;
        out[i] = f[0]!;
      }
      return out;
    }
    case 8: // Q8_0: f16 scale, 32 int8
      for (let b = 0, o = 0; o < n; b += 34, o += 32) {
        const d = F16_TABLE[raw.readUInt16LE(b)]!;
        for (let j = 0; j < 32; j++) out[o + j] = raw.readInt8(b + 2 + j) * d;
      }
      return out;
    case 2: // Q4_0: f16 scale, 16 bytes of nibbles; low nibbles are elements 0..15, high 16..31; value (q - 8) * d
      for (let b = 0, o = 0; o < n; b += 18, o += 32) {
        const d = F16_TABLE[raw.readUInt16LE(b)]!;
        for (let j = 0; j < 16; j++) {
          const q = raw[b + 2 + j]!;
          out[o + j] = ((q & 0x0f) - 8) * d;
          out[o + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      return out;
    case 3: // Q4_1: f16 scale, f16 min, 16 bytes of nibbles; value q * d + m
      for (let b = 0, o = 0; o < n; b += 20, o += 32) {
        const d = F16_TABLE[raw.readUInt16LE(b)]!;
        const m = F16_TABLE[raw.readUInt16LE(b + 2)]!;
        for (let j = 0; j < 16; j++) {
          const q = raw[b + 4 + j]!;
          out[o + j] = (q & 0x0f) * d + m;
          out[o + j + 16] = (q >> 4) * d + m;
        }
      }
      return out;
    case 14: // Q6_K: ql[128], qh[64], scales int8[16], f16 d; 256 elements in two halves of 128
      for (let b = 0, o = 0; o < n; b += 210, o += 256) {
        const d = F16_TABLE[raw.readUInt16LE(b + 208)]!;
        for (let half = 0; half < 2; half++) {
          const ql = b + half * 64;
          const qh = b + 128 + half * 32;
          const sc = b + 192 + half * 8;
          const y = o + half * 128;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const h = raw[qh + l]!;
            const q1 = ((raw[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
            const q2 = ((raw[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
            const q3 = ((raw[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const q4 = ((raw[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
            out[y + l] = d * raw.readInt8(sc + is) * q1;
            out[y + l + 32] = d * raw.readInt8(sc + is + 2) * q2;
            out[y + l + 64] = d * raw.readInt8(sc + is + 4) * q3;
            out[y + l + 96] = d * raw.readInt8(sc + is + 6) * q4;
          }
        }
      }
      return out;
  }
  throw new Error(`unsupported GGUF tensor type ${type}`);
}
