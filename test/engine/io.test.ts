// Weights I/O: Hugging Face folders (single and sharded safetensors), GGUF, clear errors, and the hub download
// path against a local HTTP server laid out like the hub (Range, ETag checksums, an interrupted transfer resumed).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHfDir, loadModel, hfNameOfGguf } from '../../src/engine/io/load.js';
import { GgufFile, dequantize } from '../../src/engine/io/gguf.js';
import { writeSafetensors, SafetensorsFile } from '../../src/engine/io/safetensors.js';
import { downloadHubModel } from '../../src/engine/io/hub.js';
import type { Tensor } from '../../src/engine/config.js';
import { writeTinyModelDir } from '../helpers/tiny-models.js';
import { NO_TEST_MODEL, TEST_MODEL_GGUF } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'sqlrl-io-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('HF folder: config, weights and tokenizer load; safetensors round-trips exactly', () => {
  const dir = join(tmp, 'tiny');
  const { config, weights } = writeTinyModelDir(dir, 'qwen2');
  const m = loadHfDir(dir);
  assert.deepEqual(m.config, config);
  for (const [k, t] of weights) assert.deepEqual(Array.from(m.weights.get(k)!.data), Array.from(t.data), k);
  assert.equal(m.tokenizer.decode(m.tokenizer.encode('SELECT count(*) FROM singer')), 'SELECT count(*) FROM singer');
  assert.equal(m.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }), '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
});

test('sharded safetensors with an index load the same weights', () => {
  const dir = join(tmp, 'sharded');
  const { weights } = writeTinyModelDir(dir, 'llama');
  rmSync(join(dir, 'model.safetensors'));
  const names = [...weights.keys()];
  const half = Math.ceil(names.length / 2);
  const shards = [names.slice(0, half), names.slice(half)];
  const map: Record<string, string> = {};
  shards.forEach((ns, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(join(dir, file), new Map(ns.map((n) => [n, weights.get(n)!])));
    for (const n of ns) map[n] = file;
  });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
  const m = loadHfDir(dir);
  for (const [k, t] of weights) assert.deepEqual(Array.from(m.weights.get(k)!.data), Array.from(t.data), k);
});

test('F16 and BF16 safetensors convert to float32', () => {
  const file = join(tmp, 'half.safetensors');
  const header = JSON.stringify({ a: { dtype: 'F16', shape: [3], data_offsets: [0, 6] }, b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] } });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const data = Buffer.alloc(10);
  data.writeUInt16LE(0x3c00, 0); // 1.0
  data.writeUInt16LE(0xc000, 2); // -2.0
  data.writeUInt16LE(0x3555, 4); // 0.333251953125
  data.writeUInt16LE(0x3f80, 6); // bf16 1.0
  data.writeUInt16LE(0x4049, 8); // bf16 3.140625
  writeFileSync(file, Buffer.concat([len, Buffer.from(header), data]));
  const st = new SafetensorsFile(file);
  assert.deepEqual(Array.from(st.read('a').data), [1, -2, 0.333251953125]);
  assert.deepEqual(Array.from(st.read('b').data), [1, 3.140625]);
  st.close();
});

test('clear errors: missing tensor, shape mismatch, unknown architecture, missing folder', () => {
  const dir = join(tmp, 'broken');
  const { weights } = writeTinyModelDir(dir, 'llama');
  const less = new Map(weights);
  less.delete('model.layers.1.mlp.up_proj.weight');
  writeSafetensors(join(dir, 'model.safetensors'), less);
  assert.throws(() => loadHfDir(dir), /missing tensor 'model\.layers\.1\.mlp\.up_proj\.weight'/);
  const wrong = new Map(weights);
  wrong.set('model.norm.weight', { shape: [15], data: new Float32Array(15) });
  writeSafetensors(join(dir, 'model.safetensors'), wrong);
  assert.throws(() => loadHfDir(dir), /tensor 'model\.norm\.weight' has shape \[15\] but the config implies \[16\]/);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, architectures: ['MambaForCausalLM'], model_type: 'mamba' }));
  assert.throws(() => loadHfDir(dir), /architecture 'MambaForCausalLM' is not supported \(supported: LlamaForCausalLM, Qwen2ForCausalLM\)/);
  return assert.rejects(loadModel(join(tmp, 'nowhere')), /model '.*nowhere' not found \(pass a Hugging Face folder, a \.gguf file, or hf:ORG\/NAME\)/);
});

/** A minimal GGUF v3 writer for tests: metadata of strings/u32/f32/string arrays, tensors of a given type. */
function writeGguf(path: string, meta: [string, 'str' | 'u32' | 'f32' | 'strs' | 'i32s', unknown][], tensors: { name: string; dims: number[]; type: number; data: Buffer }[]): void {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
  parts.push(Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(meta.length));
  for (const [k, t, v] of meta) {
    parts.push(str(k));
    if (t === 'str') parts.push(u32(8), str(v as string));
    else if (t === 'u32') parts.push(u32(4), u32(v as number));
    else if (t === 'f32') { const b = Buffer.alloc(4); b.writeFloatLE(v as number); parts.push(u32(6), b); }
    else if (t === 'strs') parts.push(u32(9), u32(8), u64((v as string[]).length), ...(v as string[]).map(str));
    else parts.push(u32(9), u32(5), u64((v as number[]).length), ...(v as number[]).map((x) => { const b = Buffer.alloc(4); b.writeInt32LE(x); return b; }));
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    offset += Math.ceil(t.data.length / 32) * 32;
  }
  tensors.forEach((t, i) => parts.push(str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(offsets[i]!)));
  let head = Buffer.concat(parts);
  head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
  const body = Buffer.concat(tensors.map((t) => Buffer.concat([t.data, Buffer.alloc((32 - (t.data.length % 32)) % 32)])));
  writeFileSync(path, Buffer.concat([head, body]));
}

function quantQ8(x: Float32Array): Buffer {
  const out = Buffer.alloc((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = amax / 127;
    // f16 of d via Float32 → half (d is small and normal here)
    const f = new Float32Array([d]);
    const u = new Uint32Array(f.buffer)[0]!;
    const half = ((u >> 16) & 0x8000) | ((((u >> 23) & 0xff) - 127 + 15) << 10) | ((u >> 13) & 0x3ff);
    out.writeUInt16LE(half, b * 34);
    const dh = dequantize(1, out.subarray(b * 34, b * 34 + 2), 1)[0]!;
    for (let j = 0; j < 32; j++) out.writeInt8(Math.max(-127, Math.min(127, Math.round(x[b * 32 + j]! / dh))), b * 34 + 2 + j);
  }
  return out;
}

test('GGUF: the tiny Llama written as GGUF (F32 and Q8_0, llama.cpp row permutation of q/k) loads to the HF weights', async () => {
  const dir = join(tmp, 'gguf-src');
  const { config, weights } = writeTinyModelDir(dir, 'llama', 3, { hiddenSize: 32, intermediateSize: 64, headDim: 8 });
  const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const vocab = Object.entries(tok.model.vocab as Record<string, number>).sort((a, b) => a[1] - b[1]).map(([t]) => t);
  const permute = (t: Tensor, heads: number): Float32Array => {
    const [rows, cols] = t.shape as [number, number];
    const hd = rows / heads;
    const out = new Float32Array(t.data.length);
    for (let h = 0; h < heads; h++) for (let a = 0; a < 2; a++) for (let b = 0; b < hd / 2; b++) out.set(t.data.subarray((h * hd + a * (hd / 2) + b) * cols, (h * hd + a * (hd / 2) + b + 1) * cols), (h * hd + b * 2 + a) * cols);
    return out;
  };
  const ggufName = (hf: string) => ['token_embd.weight', 'output_norm.weight', 'output.weight', ...Array.from({ length: 2 }, (_, i) => ['attn_norm', 'ffn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'].map((n) => `blk.${i}.${n}.weight`)).flat()].find((g) => hfNameOfGguf(g) === hf)!;
  for (const q8 of [false, true]) {
    const tensors = [...weights].map(([name, t]) => {
      let data = t.data;
      if (name.endsWith('q_proj.weight')) data = permute(t, config.numHeads);
      if (name.endsWith('k_proj.weight')) data = permute(t, config.numKvHeads);
      const quant = q8 && t.shape.length === 2;
      return { name: ggufName(name), dims: [...t.shape].reverse(), type: quant ? 8 : 0, data: quant ? quantQ8(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
    });
    const file = join(tmp, `tiny-${q8 ? 'q8' : 'f32'}.gguf`);
    writeGguf(file, [
      ['general.architecture', 'str', 'llama'], ['llama.block_count', 'u32', 2], ['llama.embedding_length', 'u32', 32], ['llama.feed_forward_length', 'u32', 64],
      ['llama.attention.head_count', 'u32', 4], ['llama.attention.head_count_kv', 'u32', 2], ['llama.rope.freq_base', 'f32', 10000], ['llama.attention.layer_norm_rms_epsilon', 'f32', 1e-6],
      ['llama.context_length', 'u32', 128], ['tokenizer.ggml.model', 'str', 'gpt2'], ['tokenizer.ggml.tokens', 'strs', vocab], ['tokenizer.ggml.token_type', 'i32s', vocab.map((t) => (t.startsWith('<|') ? 3 : 1))],
      ['tokenizer.ggml.merges', 'strs', tok.model.merges], ['tokenizer.ggml.eos_token_id', 'u32', 299],
    ], tensors);
    await loadModel(file).then((m) => {
      assert.equal(m.config.numHeads, 4);
      assert.equal(m.config.tieWordEmbeddings, false);
      for (const [k, t] of weights) {
        const got = m.weights.get(k)!.data;
        const tol = q8 && t.shape.length === 2 ? 0.01 : 0;
        t.data.forEach((v, i) => assert.ok(Math.abs(v - got[i]!) <= tol + 1e-7 * Math.abs(v), `${k}[${i}] ${v} vs ${got[i]}`));
      }
      assert.equal(m.tokenizer.decode(m.tokenizer.encode('SELECT name FROM t')), 'SELECT name FROM t');
    });
  }
});

test('GGUF: an unsupported quantization type is named, with the supported list', () => {
  const file = join(tmp, 'q4k.gguf');
  writeGguf(file, [['general.architecture', 'str', 'llama']], [{ name: 'token_embd.weight', dims: [256, 1], type: 12, data: Buffer.alloc(144) }]);
  const g = new GgufFile(file);
  assert.throws(() => g.read('token_embd.weight'), /is Q4_K, which sqlrl cannot dequantize \(supported: F32, F16, Q4_0, Q4_1, Q8_0, Q6_K, BF16\)/);
  g.close();
});

test('hub download from a local server laid out like the hub: interrupted transfer resumed, checksums verified', async () => {
  const src = join(tmp, 'hub-src');
  writeTinyModelDir(src, 'qwen2');
  const files = readdirSync(src);
  const sha = (f: string) => createHash('sha256').update(readFileSync(join(src, f))).digest('hex');
  let cutFirst = true;
  let corrupt = false;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const m = /^\/acme\/tiny\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    requests.push(`${req.url} ${req.headers.range ?? ''}`);
    if (!m || !files.includes(m[1]!)) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(join(src, m[1]!));
    const lfs = m[1]!.endsWith('.safetensors');
    const headers: Record<string, string> = lfs ? { 'x-linked-etag': `"${sha(m[1]!)}"` } : { etag: '"abc"' };
    let start = 0;
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    if (range) start = Number(range[1]);
    const chunk = corrupt && lfs ? Buffer.alloc(body.length - start, 7) : body.subarray(start);
    res.writeHead(range ? 206 : 200, { ...headers, 'content-length': String(chunk.length) });
    if (lfs && cutFirst && !range) {
      cutFirst = false;
      res.write(chunk.subarray(0, 1000));
      setTimeout(() => res.destroy(), 20);
      return;
    }
    res.end(chunk);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hubUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const cacheDir = join(tmp, 'hub-cache');
    await assert.rejects(downloadHubModel('acme/tiny', { cacheDir, hubUrl, quiet: true }));
    const part = join(cacheDir, 'acme--tiny', 'main', 'model.safetensors.part');
    assert.ok(existsSync(part), 'the partial download is kept');
    const dir = await downloadHubModel('acme/tiny', { cacheDir, hubUrl, quiet: true });
    assert.ok(requests.some((r) => r.includes('model.safetensors bytes=1000-')), `resumed with a Range request: ${requests.join(' | ')}`);
    assert.deepEqual(readFileSync(join(dir, 'model.safetensors')), readFileSync(join(src, 'model.safetensors')));
    const m = await loadModel('hf:acme/tiny', { cacheDir, hubUrl });
    assert.equal(m.config.architecture, 'qwen2');
    corrupt = true;
    await assert.rejects(downloadHubModel('acme/tiny@main', { cacheDir: join(tmp, 'hub-cache-2'), hubUrl, quiet: true }), /checksum mismatch for model\.safetensors/);
    await assert.rejects(downloadHubModel('acme/none', { cacheDir, hubUrl, quiet: true }), /HTTP 404/);
  } finally {
    server.close();
  }
});

// ---------------------------------------------------------------- damaged files: refused, the file named

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A small valid GGUF (one F32 tensor of 64 values) to damage. */
function smallGguf(path: string): Buffer {
  const data = Buffer.alloc(64 * 4);
  for (let i = 0; i < 64; i++) data.writeFloatLE(i, 4 * i);
  writeGguf(path, [['general.architecture', 'str', 'llama']], [{ name: 'token_embd.weight', dims: [8, 8], type: 0, data }]);
  return readFileSync(path);
}

test('GGUF cut short: refused at open, naming the file, the tensor and the sizes', () => {
  const file = join(tmp, 'cut.gguf');
  const whole = smallGguf(file);
  // Layout (writeGguf): header + 32-byte alignment, then 256 bytes of tensor data at the end.
  const dataStart = whole.length - 256;
  writeFileSync(file, whole.subarray(0, dataStart + 100));
  assert.throws(() => new GgufFile(file), new RegExp(`^Error: ${esc(file)}: truncated GGUF file: tensor 'token_embd\\.weight' needs bytes ${dataStart} to ${dataStart + 256} but the file has ${dataStart + 100} bytes$`));
  // Cut inside the first key (its length, 20, is at bytes 24..31; the key itself would end at byte 52).
  writeFileSync(file, whole.subarray(0, 40));
  assert.throws(() => new GgufFile(file), new RegExp(`^Error: ${esc(file)}: bad GGUF metadata entry 0: string length 20 at byte 24 cannot fit in a 40-byte file \\(corrupt or truncated\\)$`));
});

test('GGUF with corrupt metadata: a length that cannot fit is named, not a raw RangeError', () => {
  const file = join(tmp, 'badmeta.gguf');
  const whole = smallGguf(file);
  // Bytes 24..31 hold the length of the first metadata key ("general.architecture").
  const huge = Buffer.from(whole);
  huge.writeBigUInt64LE(6_464_513_685_598_686_000n, 24);
  writeFileSync(file, huge);
  assert.throws(() => new GgufFile(file), new RegExp(`^Error: ${esc(file)}: bad GGUF metadata entry 0: value 6464513685598686000 at byte 24 is out of range$`));
  const big = Buffer.from(whole);
  big.writeBigUInt64LE(10_000_000n, 24);
  writeFileSync(file, big);
  assert.throws(() => new GgufFile(file), new RegExp(`^Error: ${esc(file)}: bad GGUF metadata entry 0: string length 10000000 at byte 24 cannot fit in a ${whole.length}-byte file \\(corrupt or truncated\\)$`));
  const dims = Buffer.from(whole);
  // The tensor entry follows the metadata: name length (8) + name (17) then the dimension count.
  const at = whole.indexOf('token_embd.weight') + 'token_embd.weight'.length;
  dims.writeUInt32LE(9, at);
  writeFileSync(file, dims);
  assert.throws(() => new GgufFile(file), new RegExp(`^Error: ${esc(file)}: bad GGUF tensor 'token_embd\\.weight': 9 dimensions \\(1 to 4 allowed\\)$`));
});

test('the real test model GGUF cut to 10 MB is refused, naming the file (it used to load and train on garbage)', { skip: NO_TEST_MODEL }, async () => {
  const file = join(tmp, 'smollm2-cut.gguf');
  const fd = openSync(TEST_MODEL_GGUF, 'r');
  const head = Buffer.alloc(10 << 20);
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  writeFileSync(file, head);
  await assert.rejects(loadModel(file), new RegExp(`^Error: ${esc(file)}: truncated GGUF file: tensor '[\\w.]+' needs bytes \\d+ to \\d+ but the file has 10485760 bytes$`));
  rmSync(file);
});

/** A safetensors file of two F32 tensors: a (3 values) then b (5 values). */
function smallSafetensors(path: string): Buffer {
  writeSafetensors(path, new Map([['a', { shape: [3], data: new Float32Array([1, 2, 3]) }], ['b', { shape: [5], data: new Float32Array([4, 5, 6, 7, 8]) }]]));
  return readFileSync(path);
}

test('safetensors with half its body: refused at open, naming the file and the tensor past the end', () => {
  const file = join(tmp, 'half-body.safetensors');
  const whole = smallSafetensors(file);
  const bodyStart = whole.length - 32; // 8 float32 values
  writeFileSync(file, whole.subarray(0, bodyStart + 16));
  // a occupies body bytes 0..12 (present), b 12..32 (cut at 16): b is named, with the byte it needs.
  assert.throws(() => new SafetensorsFile(file), new RegExp(`^Error: ${esc(file)}: truncated safetensors file: tensor 'b' needs data up to byte ${bodyStart + 32} but the file has ${bodyStart + 16} bytes$`));
});

test('safetensors header: corrupt JSON, impossible length, offsets that disagree with the shape: each named', () => {
  const file = join(tmp, 'bad-header.safetensors');
  const whole = smallSafetensors(file);
  const n = Number(whole.readBigUInt64LE(0));
  const torn = Buffer.from(whole);
  torn.write('}', 8 + 5); // inside the first key's quotes
  writeFileSync(file, torn);
  assert.throws(() => new SafetensorsFile(file), new RegExp(`^Error: ${esc(file)}: the safetensors header is not valid JSON \\(.+\\); the file is corrupt$`));
  const long = Buffer.from(whole);
  long.writeBigUInt64LE(BigInt(whole.length), 0);
  writeFileSync(file, long);
  assert.throws(() => new SafetensorsFile(file), new RegExp(`^Error: ${esc(file)} is not a safetensors file, or is truncated \\(header length ${whole.length}, file size ${whole.length} bytes\\)$`));
  const header = JSON.parse(whole.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: number[] }>;
  header.a!.data_offsets = [0, 8];
  const json = JSON.stringify(header).padEnd(n, ' ');
  writeFileSync(file, Buffer.concat([whole.subarray(0, 8), Buffer.from(json), whole.subarray(8 + n)]));
  assert.throws(() => new SafetensorsFile(file), new RegExp(`^Error: ${esc(file)}: tensor 'a' has 8 bytes of data but shape \\[3\\] of F32 needs 12$`));
  writeFileSync(file, '');
  assert.throws(() => new SafetensorsFile(file), new RegExp(`^Error: ${esc(file)} is not a safetensors file \\(0 bytes, shorter than the 8-byte header length\\)$`));
});

test('HF folder: corrupt config.json / tokenizer.json / index named with the JSON error', () => {
  const dir = join(tmp, 'corrupt-json');
  writeTinyModelDir(dir, 'llama');
  const tokFile = join(dir, 'tokenizer.json');
  const tok = readFileSync(tokFile, 'utf8');
  writeFileSync(tokFile, tok.slice(0, Math.floor(tok.length / 2)));
  assert.throws(() => loadHfDir(dir), new RegExp(`^Error: ${esc(tokFile)}: invalid JSON \\(.+\\); the file is corrupt or truncated$`));
  writeFileSync(tokFile, tok);
  const cfgFile = join(dir, 'config.json');
  const cfg = readFileSync(cfgFile, 'utf8');
  writeFileSync(cfgFile, cfg.slice(0, 40));
  assert.throws(() => loadHfDir(dir), new RegExp(`^Error: ${esc(cfgFile)}: invalid JSON \\(.+\\); the file is corrupt or truncated$`));
  writeFileSync(cfgFile, cfg);
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00002-of-00002.safetensors' } }));
  assert.throws(() => loadHfDir(dir), /model\.safetensors\.index\.json: lists 'model-00002-of-00002\.safetensors', which is not in .* \(incomplete download\?\)$/);
});
