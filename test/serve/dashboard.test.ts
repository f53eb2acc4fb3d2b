import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startDashboard, type Dashboard } from '../../src/serve/dashboard/server.js';
import { parseJsonlText, readJsonlFrom } from '../../src/serve/dashboard/run-files.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { CHROMIUM, skipUnlessChromium } from '../helpers/optional.js';

const noChromium = skipUnlessChromium();

test('JSONL parsing keeps complete lines and leaves a partial last line for later', () => {
  const r = parseJsonlText('{"a":1}\nnot json\n{"b":2}\n{"c":');
  assert.deepEqual(r.records, [{ a: 1 }, { b: 2 }]);
  assert.equal(r.badLines, 1);
  assert.equal(r.pendingPartial, true);
  assert.equal(r.consumedChars, '{"a":1}\nnot json\n{"b":2}\n'.length);
  const whole = parseJsonlText('{"a":1}\n{"b":2}');
  assert.deepEqual(whole.records, [{ a: 1 }, { b: 2 }]);
  assert.equal(whole.pendingPartial, false);
});

test('incremental reads resume at the byte offset, multi-byte text included', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-jsonl-'));
  const f = join(dir, 'm.jsonl');
  writeFileSync(f, '{"q":"café"}\n{"q":"na');
  const a = readJsonlFrom(f, 0);
  assert.deepEqual(a.records, [{ q: 'café' }]);
  appendFileSync(f, 'ïve"}\n');
  const b = readJsonlFrom(f, a.nextOffset);
  assert.deepEqual(b.records, [{ q: 'naïve' }]);
  assert.deepEqual(readJsonlFrom(join(dir, 'missing.jsonl'), 0).records, []);
});

function trainLine(step: number): string {
  return JSON.stringify({
    kind: 'train', step, time: step * 2.5, loss: 1 / step, reward_mean: 0.1 * step, reward_std: 0.05,
    rewards: { execution: 0.05 * step, format: 1 }, kl: 0.001 * step, clip_frac: 0.01, entropy: 1.2,
    completion_len_mean: 30 + step, zero_std_groups: step % 3, groups: 4, sec_sampling: 1, sec_rewards: 0.2, sec_update: 1.3,
  }) + '\n';
}

const STATUSES = ['match', 'mismatch', 'error', 'timeout'] as const;

function fixtureRun(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-run-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ command: 'train', numGenerations: 4 }));
  let m = '';
  for (let s = 1; s <= 20; s++) m += trainLine(s);
  for (const s of [5, 10, 15, 20]) m += JSON.stringify({ kind: 'eval', step: s, time: s * 2.5, ex: 0.2 + s / 100, n: 50, split: 'heldout' }) + '\n';
  writeFileSync(join(dir, 'metrics.jsonl'), m);
  let samples = '';
  for (const step of [10, 20]) {
    for (let g = 0; g < 2; g++) {
      for (let k = 0; k < 4; k++) {
        samples += JSON.stringify({
          step, example_id: `ex-${g}`, group: g, k, question: g === 0 ? 'How many singers are there?' : 'List stadium names.',
          db_id: 'concert_singer', gold_sql: g === 0 ? 'SELECT count(*) FROM singer' : 'SELECT name FROM stadium',
          completion: `<answer>SELECT ${k}</answer>`, sql: `SELECT ${k}`, status: STATUSES[k], reward: k === 0 ? 1 : 0,
          components: { execution: k === 0 ? 1 : 0 }, advantage: k === 0 ? 1.5 : -0.5, pred_preview: [[k]], gold_preview: [[6]],
          error: STATUSES[k] === 'error' ? 'no such column: x' : null,
        }) + '\n';
      }
    }
  }
  // The trainer is mid-write: the last line is cut.
  writeFileSync(join(dir, 'samples.jsonl'), samples + '{"step": 21, "comple');
  return dir;
}

let dash: Dashboard;
let browser: Browser;
let runDir: string;

before(async () => {
  if (noChromium) return;
  runDir = fixtureRun();
  dash = await startDashboard({ runDirs: [runDir, join(runDir, 'not-there')], pollMs: 200 });
  browser = await chromium.launch({
    executablePath: CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await dash?.close();
});

test('the dashboard renders every chart, updates live, filters samples, with no console errors', { skip: noChromium, timeout: 60000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  const errors: string[] = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(dash.url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  const points = () => page.evaluate(() => (window as unknown as { __sqlrl: { points: Record<string, number[]> } }).__sqlrl.points);
  let p = await points();
  // Two runs given: the real one and a missing one (named in the banner, no series).
  assert.deepEqual(p.reward, [20, 20, 20]);
  assert.deepEqual(p.ex, [4]);
  assert.deepEqual(p.components, [20, 20]);
  assert.deepEqual(p.phases, [20, 20, 20]);
  const banner = await page.textContent('#problems');
  assert.match(banner ?? '', /partial line/);
  assert.match(banner ?? '', /does not exist/);

  // Live append: shows up within 2 s.
  appendFileSync(join(runDir, 'metrics.jsonl'), trainLine(21));
  const t0 = Date.now();
  await page.waitForFunction(() => (window as unknown as { __sqlrl: { points: Record<string, number[]> } }).__sqlrl.points.reward[0] === 21, null, { timeout: 2000 });
  assert.ok(Date.now() - t0 < 2000);
  p = await points();
  assert.deepEqual(p.loss, [21]);

  // Sample browser: latest step selected, 8 samples; filters.
  await page.waitForFunction(() => document.querySelectorAll('.sample').length === 8);
  await page.selectOption('#sample-verdict', 'correct');
  await page.waitForFunction(() => document.querySelectorAll('.sample').length === 2);
  assert.equal(await page.locator('.sample[data-status="match"]').count(), 2);
  await page.selectOption('#sample-verdict', 'all');
  await page.fill('#sample-search', 'stadium');
  await page.waitForFunction(() => document.querySelectorAll('.sample').length === 4);
  await page.selectOption('#sample-step', '10');
  await page.waitForFunction(() => document.querySelectorAll('.sample').length === 4);

  mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'dashboard.png'), fullPage: true });
  assert.deepEqual(errors, []);
});
