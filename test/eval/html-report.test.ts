import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { evalReportHtml, type EvalReportJson } from '../../src/eval/html-report.js';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { CHROMIUM, skipUnlessChromium } from '../helpers/optional.js';

const noChromium = skipUnlessChromium();
const LAUNCH = { executablePath: CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] };

function report(statuses: string[]): EvalReportJson {
  const hard = ['easy', 'medium', 'hard', 'extra'];
  const examples = statuses.map((status, index) => ({
    index, db_id: index % 2 ? 'concert_singer' : 'pets_1', hardness: hard[index % 4], status,
    gold: `SELECT ${index}`, pred: status === 'no_sql' ? null : `SELECT ${status === 'match' ? index : -1} <b>`,
    question: `Question number ${index}?`, error: status === 'error' ? 'no such column: nme' : null, gold_preview: [[index]], pred_preview: status === 'match' ? [[index]] : null, ms: 1,
  }));
  const acc = (list: typeof examples) => ({ n: list.length, execution_accuracy: list.filter((e) => e.status === 'match').length / list.length });
  const by = (key: 'hardness' | 'db_id') => Object.fromEntries([...new Set(examples.map((e) => e[key]))].map((k) => [k, acc(examples.filter((e) => e[key] === k))]));
  return { summary: { total: examples.length, evaluated: examples.length, execution_accuracy: acc(examples).execution_accuracy, by_hardness: by('hardness'), by_db: by('db_id') }, examples };
}

const A = report(['match', 'mismatch', 'error', 'match', 'no_sql', 'mismatch', 'match', 'timeout']);
const B = report(['match', 'match', 'match', 'mismatch', 'no_sql', 'match', 'match', 'timeout']);

test('the evaluation report is self-contained and escapes what it shows', () => {
  const html = evalReportHtml(A);
  assert.ok(!/<script src=|<link /.test(html), 'no external assets');
  assert.ok(html.includes('SELECT 0 &lt;b&gt;'));
  assert.ok(html.includes('37.5%'));
});

test('the evaluation and comparison reports render in Chromium with the expected numbers and no console errors', { skip: noChromium, timeout: 90000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-html-'));
  writeFileSync(join(dir, 'a.json'), JSON.stringify(A));
  writeFileSync(join(dir, 'b.json'), JSON.stringify(B));
  const res = await runCli(['compare', join(dir, 'a.json'), join(dir, 'b.json'), '--html', join(dir, 'cmp.html'), '--json', join(dir, 'cmp.json')]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /A 37\.5%  B 62\.5%  delta \+25\.0 pts/);
  assert.match(res.stdout, /fixed 3  broken 1  both wrong 2  both right 2/);
  const cmp = JSON.parse(readFileSync(join(dir, 'cmp.json'), 'utf8'));
  assert.equal(cmp.overall.fixed, 3);
  writeFileSync(join(dir, 'a.html'), evalReportHtml(A));

  const browser = await chromium.launch(LAUNCH);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto('file://' + join(dir, 'a.html'));
    assert.match((await page.textContent('#ex-overall')) ?? '', /37\.5%/);
    assert.equal(await page.locator('svg.chart').count(), 2);
    assert.equal(await page.locator('svg.chart g.bar').count(), 4 + 2);
    assert.equal(await page.locator('tr.ex').count(), 8);
    await page.selectOption('#f', 'mismatch');
    assert.equal(await page.locator('tr.ex:visible').count(), 2);
    await page.fill('#q', 'Question number 5?');
    assert.equal(await page.locator('tr.ex:visible').count(), 1);
    await page.goto('file://' + join(dir, 'cmp.html'));
    assert.match((await page.textContent('#delta')) ?? '', /\+25\.0 pts/);
    await page.selectOption('#f', 'fixed');
    assert.equal(await page.locator('tr.ex:visible').count(), 3);
    mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'compare-report.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('compare refuses reports of different datasets with one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlrl-cmp-'));
  writeFileSync(join(dir, 'a.json'), JSON.stringify(A));
  writeFileSync(join(dir, 'c.json'), JSON.stringify(report(['match', 'match'])));
  const res = await runCli(['compare', join(dir, 'a.json'), join(dir, 'c.json')]);
  assert.equal(res.code, 2);
  assert.equal(res.stderr.trim().split('\n').length, 1);
  assert.match(res.stderr, /not in the second|same dataset/);
  const missing = await runCli(['compare', join(dir, 'nope.json'), join(dir, 'c.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.json' not found/);
});
