// Downloads a model from the Hugging Face hub (or any server with the same URL layout:
// {hub}/{repo}/resolve/{revision}/{file}) into a cache folder: resumable (.part files continued with
// Range requests), checksum-verified (LFS files carry their SHA-256 in X-Linked-Etag / ETag), with a
// progress bar on stderr.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import cliProgress from 'cli-progress';
import { readJsonObject } from './json.js';

export interface HubOptions {
  cacheDir?: string;
  hubUrl?: string;
  token?: string;
  onProgress?: (done: number, total: number, what: string) => void;
  quiet?: boolean;
}

export function hubCacheDir(opts: HubOptions = {}): string {
  return resolve(opts.cacheDir ?? join(process.env.SQLRL_CACHE ?? join(homedir(), '.cache', 'sqlrl'), 'hub'));
}

function parseRepo(spec: string): { repo: string; revision: string } {
  const [repo, revision] = spec.split('@') as [string, string | undefined];
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new Error(`'hf:${spec}' is not a hub model name (expected hf:ORG/NAME or hf:ORG/NAME@revision)`);
  return { repo, revision: revision ?? 'main' };
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** Downloads one file; returns false when the server says it does not exist (404) and `optional`. */
async function fetchFile(url: string, dest: string, opts: HubOptions, optional: boolean, bar: cliProgress.MultiBar | null): Promise<boolean> {
  const headers: Record<string, string> = {};
  const token = opts.token ?? process.env.HF_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  if (existsSync(dest)) return true;
  const part = `${dest}.part`;
  const have = existsSync(part) ? statSync(part).size : 0;
  if (have > 0) headers.range = `bytes=${have}-`;
  const res = await fetch(url, { headers, redirect: 'follow' });
  if (res.status === 404 && optional) return false;
  if (res.status === 416 && have > 0) {
    // the .part is already complete
  } else if (!res.ok) {
    throw new Error(`download of ${url} failed: HTTP ${res.status}${res.status === 401 || res.status === 403 ? ' (gated or private model: set HF_TOKEN)' : ''}`);
  }
  const etag = (res.headers.get('x-linked-etag') ?? res.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  const resumed = res.status === 206;
  const length = Number(res.headers.get('content-length') ?? 0);
  const total = (resumed ? have : 0) + length;
  const name = dest.replace(/^.*[\\/]/, '');
  const b = bar?.create(total || 1, resumed ? have : 0, { file: name });
  let done = resumed ? have : 0;
  if (res.status !== 416 && res.body) {
    const src = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    src.on('data', (chunk: Buffer) => {
      done += chunk.length;
      b?.update(done);
      opts.onProgress?.(done, total, name);
    });
    await pipeline(src, createWriteStream(part, { flags: resumed ? 'a' : 'w' }));
  }
  b?.stop();
  if (/^[0-9a-f]{64}$/.test(etag)) {
    const got = await sha256File(part);
    if (got !== etag) {
      unlinkSync(part);
      throw new Error(`checksum mismatch for ${name}: expected sha256 ${etag}, got ${got} (the partial file was removed; run again)`);
    }
  }
  renameSync(part, dest);
  return true;
}

/** Fetches only the tokenizer of `ORG/NAME[@rev]` (tokenizer.json, tokenizer_config.json) into the model's cache folder, for counting prompt tokens without the weights. */
export async function downloadHubTokenizer(spec: string, opts: HubOptions = {}): Promise<string> {
  const { repo, revision } = parseRepo(spec);
  const hub = (opts.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
  const dir = join(hubCacheDir(opts), repo.replace('/', '--'), revision);
  mkdirSync(dir, { recursive: true });
  const url = (f: string) => `${hub}/${repo}/resolve/${encodeURIComponent(revision)}/${f}`;
  await fetchFile(url('tokenizer.json'), join(dir, 'tokenizer.json'), opts, false, null);
  await fetchFile(url('tokenizer_config.json'), join(dir, 'tokenizer_config.json'), opts, true, null);
  return dir;
}

/** Fetches config, tokenizer and weights of `ORG/NAME[@rev]`; returns the local folder. */
export async function downloadHubModel(spec: string, opts: HubOptions = {}): Promise<string> {
  const { repo, revision } = parseRepo(spec);
  const hub = (opts.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
  const dir = join(hubCacheDir(opts), repo.replace('/', '--'), revision);
  mkdirSync(dir, { recursive: true });
  const url = (f: string) => `${hub}/${repo}/resolve/${encodeURIComponent(revision)}/${f}`;
  const bar = opts.quiet || !process.stderr.isTTY ? null : new cliProgress.MultiBar({ format: '{file} [{bar}] {percentage}% {value}/{total} bytes', stream: process.stderr, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  try {
    await fetchFile(url('config.json'), join(dir, 'config.json'), opts, false, bar);
    await fetchFile(url('tokenizer.json'), join(dir, 'tokenizer.json'), opts, false, bar);
    await fetchFile(url('tokenizer_config.json'), join(dir, 'tokenizer_config.json'), opts, true, bar);
    await fetchFile(url('generation_config.json'), join(dir, 'generation_config.json'), opts, true, bar);
    const sharded = await fetchFile(url('model.safetensors.index.json'), join(dir, 'model.safetensors.index.json'), opts, true, bar);
    if (sharded) {
      const indexFile = join(dir, 'model.safetensors.index.json');
      const map = readJsonObject(indexFile).weight_map;
      if (!map || typeof map !== 'object' || !Object.values(map).every((f) => typeof f === 'string')) throw new Error(`${indexFile}: 'weight_map' must map tensor names to file names`);
      for (const f of new Set(Object.values(map as Record<string, string>))) await fetchFile(url(f), join(dir, f), opts, false, bar);
    } else {
      await fetchFile(url('model.safetensors'), join(dir, 'model.safetensors'), opts, false, bar);
    }
  } finally {
    bar?.stop();
  }
  return dir;
}
