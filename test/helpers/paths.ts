// Paths the tests share: the repo root, the Spider copy beside the checkout, the cached test model.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipUnless } from './optional.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SPIDER_DIR = resolve(REPO_ROOT, '../shared/data/spider');
export const HAVE_SPIDER = existsSync(resolve(SPIDER_DIR, 'dev.json'));
export const TEST_MODEL_GGUF = resolve(REPO_ROOT, '.cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf');
export const HAVE_TEST_MODEL = existsSync(TEST_MODEL_GGUF);
/** Reason string for `test(..., { skip })` when the real test model is absent. */
export const NO_TEST_MODEL = skipUnless(HAVE_TEST_MODEL, 'test model absent: run scripts/fetch-test-model.sh');
export const NO_SPIDER = skipUnless(HAVE_SPIDER, `Spider data absent at ${SPIDER_DIR}`);
