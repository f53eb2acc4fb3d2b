import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startDashboard, type Dashboard } from '../../src/serve/dashboard/server.js';
import { parseJsonlText, readJsonlFrom } from '../../src/serve/dashboard/run-files.js';
import { emaSmooth } from '../../src/serve/dashboard/smoothing.js';
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

test('smoothing is TensorBoard\'s debiased moving average: values worked out by hand', () => {
  const close = (a: (number | null)[], b: (number | null)[]) => a.forEach((v, i) => (v === null || b[i] === null ? assert.equal(v, b[i]) : assert.ok(Math.abs(v - b[i]!) < 1e-12, `${i}: ${v} vs ${b[i]}`)));
  // w = 0.5 on 1, 1/2, 1/3: running averages 0.5, 0.5, 5/12 over debias weights 1/2, 3/4, 7/8
  close(emaSmooth([1, 1 / 2, 1 / 3], 0.5), [1, 2 / 3, 10 / 21]);
  // a missing point passes through and does not count: 1, -, 3 -> 1, -, 1.75 / 0.75
  close(emaSmooth([1, null, 3], 0.5), [1, null, 7 / 3]);
  assert.deepEqual(emaSmooth([0.1, 0.7, 0.2], 0), [0.1, 0.7, 0.2], 'weight 0 is the raw curve');
  assert.deepEqual(emaSmooth([0.3, 0.3, 0.3, 0.3], 0.9), [0.3, 0.3, 0.3, 0.3], 'a constant curve stays exactly constant');
  assert.deepEqual(emaSmooth([], 0.6), []);
});

function trainLine(step: number): string {
  return JSON.stringify({
    kind: 'train', step, time: step * 2.5, loss: 1 / step, reward_mean: 0.1 * step, reward_std: 0.05,
    rewards: { execution: 0.05 * step, format: 1 }, kl: 0.001 * step, clip_frac: 0.01, entropy: 1.2,
    completion_len_mean: 30 + step, zero_std_groups: step % 3, groups: 4, sec_sampling: 1, sec_rewards: 0.2, sec_update: 1.3,
  }) + '\n';
}

/** A held-out evaluation record as the trainer appends it (src/rl/trainer.ts, docs/run-format.md). */
function evalLine(step: number): string {
  return JSON.stringify({ step, time: step * 2.5 + 1, kind: 'eval', ex: 0.2 + step / 100, n: 50, split: 'heldout', by_bucket: { concert_singer: 0.5, pets_1: 0.1 } }) + '\n';
}

const STATUSES = ['match', 'mismatch', 'error', 'timeout'] as const;

function fixtureRun(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-run-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ command: 'train', numGenerations: 4 }));
  let m = '';
  for (let s = 1; s <= 20; s++) m += trainLine(s);
  for (const s of [5, 10, 15, 20]) m += evalLine(s);
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

let dash: Dashboard | undefined;
let browser: Browser | undefined;
let runDir: string;

/** The fixture run's dashboard and Chromium, started by the first browser test (the others need neither). */
async function openBrowser(): Promise<{ dash: Dashboard; browser: Browser }> {
  if (!dash) {
    runDir = fixtureRun();
    dash = await startDashboard({ runDirs: [runDir, join(runDir, 'not-there')], pollMs: 200 });
  }
  browser ??= await chromium.launch({
    executablePath: CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { dash, browser };
}
after(async () => {
  await browser?.close();
  await dash?.close();
});

test('the dashboard renders every chart, updates live, filters samples, with no console errors', { skip: noChromium, timeout: 60000 }, async () => {
  const { dash, browser } = await openBrowser();
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

/** What a uPlot chart of the page draws: series labels, colours and values. */
type Drawn = { labels: string[]; strokes: string[]; data: (number | null)[][] };
const drawn = (page: import('playwright-core').Page, id: string) =>
  page.evaluate((chartId) => {
    type Plot = { series: { label: string; stroke: (u: unknown, i: number) => string }[]; data: (number | null)[][] };
    const plot = (window as unknown as { __sqlrl: { plots: Record<string, { plot: Plot }> } }).__sqlrl.plots[chartId]!.plot;
    return { labels: plot.series.map((s) => s.label), strokes: plot.series.map((s, i) => (i ? s.stroke(plot, i) : '')), data: plot.data.map((d) => Array.from(d)) };
  }, id) as Promise<Drawn>;

test('smoothing slider: the moving average on top of the faint raw curve; 0 shows the raw curve alone; evaluations are never smoothed', { skip: noChromium, timeout: 60000 }, async () => {
  const { dash, browser } = await openBrowser();
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(dash.url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  assert.equal(await page.inputValue('#smoothing'), '0.6', "TensorBoard's default weight");
  await page.fill('#smoothing', '0.5');
  await page.waitForFunction(() => document.getElementById('smoothing-value')!.textContent === '0.50');
  let loss = await drawn(page, 'loss');
  const run = basename(runDir) + ' · '; // two runs given (one missing): series are named by run
  assert.deepEqual(loss.labels, ['step', run + 'loss (raw)', run + 'loss'], 'raw drawn first (behind), smoothed on top');
  assert.deepEqual(loss.data[0]!.slice(0, 3), [1, 2, 3]);
  assert.deepEqual(loss.data[1]!.slice(0, 3), [1, 1 / 2, 1 / 3], 'raw values: loss = 1/step');
  [1, 2 / 3, 10 / 21].forEach((v, i) => assert.ok(Math.abs(loss.data[2]![i]! - v) < 1e-12, `smoothed[${i}] ${loss.data[2]![i]} vs ${v}`));
  assert.match(loss.strokes[1]!, /^#[0-9a-f]{6}40$/, 'the raw curve is the same colour at 25% opacity');
  assert.equal(loss.strokes[1]!.slice(0, 7), loss.strokes[2]);
  assert.equal(await page.locator('#chart-loss .u-legend .u-series:visible').count(), 2, 'the legend lists step and loss, not the raw copy');
  // the held-out evaluations are points, not smoothed
  const ex = await drawn(page, 'ex');
  assert.deepEqual(ex.labels, ['step', run + 'EX (heldout)']);
  assert.deepEqual(ex.data[1]!.filter((v) => v !== null), [5, 10, 15, 20].map((step) => 0.2 + step / 100), "the fixture's ex at each evaluated step");
  await page.fill('#smoothing', '0');
  await page.waitForFunction(() => document.getElementById('smoothing-value')!.textContent === '0.00');
  loss = await drawn(page, 'loss');
  assert.deepEqual(loss.labels, ['step', run + 'loss']);
  assert.deepEqual(loss.data[1]!.slice(0, 3), [1, 1 / 2, 1 / 3]);
  assert.deepEqual(errors, []);
});

test('the held-out EX chart follows the run\'s evaluation records live, and says why it is empty when a run has none', { skip: noChromium, timeout: 60000 }, async () => {
  const { dash, browser } = await openBrowser();
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  await page.goto(dash.url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
  const exPoints = () => page.evaluate(() => (window as unknown as { __sqlrl: { points: Record<string, number[]> } }).__sqlrl.points.ex![0]);
  const before = await exPoints();
  appendFileSync(join(runDir, 'metrics.jsonl'), evalLine(25));
  await page.waitForFunction((n) => (window as unknown as { __sqlrl: { points: Record<string, number[]> } }).__sqlrl.points.ex![0] === n, before! + 1, { timeout: 2000 });
  assert.equal(await page.isVisible('#chart-ex .empty'), false);

  // A run trained without evaluations (the demo's GRPO run had --eval-every 0): the chart says so.
  const bare = mkdtempSync(join(tmpdir(), 'sqlrl-run-noeval-'));
  writeFileSync(join(bare, 'config.json'), JSON.stringify({ command: 'train', evalEvery: 0 }));
  writeFileSync(join(bare, 'metrics.jsonl'), trainLine(1) + trainLine(2));
  const other = await startDashboard({ runDirs: [bare], pollMs: 200 });
  try {
    await page.goto(other.url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 });
    assert.equal(await page.isVisible('#chart-ex .empty'), true);
    assert.match((await page.textContent('#chart-ex .empty')) ?? '', /no held-out evaluations in metrics\.jsonl yet \(records with kind "eval", written every --eval-every steps\); this run has eval_every 0/);
    appendFileSync(join(bare, 'metrics.jsonl'), evalLine(2));
    await page.waitForFunction(() => getComputedStyle(document.querySelector('#chart-ex .empty')!).display === 'none', null, { timeout: 2000 });
  } finally {
    await other.close();
  }
});
