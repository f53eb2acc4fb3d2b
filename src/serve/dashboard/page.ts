// The dashboard's single page: charts (uPlot, served locally) over metrics.jsonl of every run,
// overlaid, and a browser of the logged samples. Plain browser JavaScript, no build step.
import { emaSmooth } from './smoothing.js';

/** The smoothing weight the page opens with (TensorBoard's default). */
export const DEFAULT_SMOOTHING = 0.6;

/**
 * Charts: id, title, the series each run contributes (a field of a metrics record), and whether the
 * smoothing slider applies (per-step training curves are noisy; the evaluations are few and exact).
 */
const CHARTS = [
  { id: 'reward', title: 'Reward (mean, ± std dashed)', kind: 'train', fields: ['reward_mean', 'reward_plus_std', 'reward_minus_std'], smooth: true },
  { id: 'components', title: 'Reward components (mean)', kind: 'train', fields: ['rewards.*'], smooth: true },
  { id: 'ex', title: 'Held-out execution accuracy', kind: 'eval', fields: ['ex'], smooth: false },
  { id: 'loss', title: 'Loss', kind: 'train', fields: ['loss'], smooth: true },
  { id: 'kl', title: 'KL to reference', kind: 'train', fields: ['kl'], smooth: true },
  { id: 'clip', title: 'Clip fraction', kind: 'train', fields: ['clip_frac'], smooth: true },
  { id: 'entropy', title: 'Entropy', kind: 'train', fields: ['entropy'], smooth: true },
  { id: 'length', title: 'Completion length (tokens)', kind: 'train', fields: ['completion_len_mean'], smooth: true },
  { id: 'zero', title: 'Zero-variance groups', kind: 'train', fields: ['zero_std_groups'], smooth: true },
  { id: 'phases', title: 'Seconds per phase', kind: 'train', fields: ['sec_sampling', 'sec_rewards', 'sec_update'], smooth: true },
];

const CLIENT = String.raw`
const CHARTS = __CHARTS__;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const state = { runs: [], xAxis: 'step', smoothing: __SMOOTHING__, plots: {}, points: {} };
window.__sqlrl = state;
const emaSmooth = __EMA_SMOOTH__;

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toFixed(3)) : esc(v));

function fieldValue(rec, field) {
  if (field === 'reward_plus_std') return num(rec.reward_mean) !== null && num(rec.reward_std) !== null ? rec.reward_mean + rec.reward_std : null;
  if (field === 'reward_minus_std') return num(rec.reward_mean) !== null && num(rec.reward_std) !== null ? rec.reward_mean - rec.reward_std : null;
  if (field.startsWith('rewards.')) return rec.rewards ? num(rec.rewards[field.slice(8)]) : null;
  return num(rec[field]);
}

function expandFields(chart, run) {
  if (chart.fields[0] !== 'rewards.*') return chart.fields;
  const names = new Set();
  for (const r of run.metrics) if (r.rewards && typeof r.rewards === 'object') Object.keys(r.rewards).forEach((k) => names.add(k));
  return [...names].sort().map((k) => 'rewards.' + k);
}

function chartData(chart) {
  const xs = new Set();
  const series = [];
  state.runs.forEach((run, ri) => {
    if (!run.metrics.length) return; // a run with nothing written yet only shows in the banner
    const recs = run.metrics.filter((r) => (r.kind ?? 'train') === chart.kind);
    expandFields(chart, run).forEach((field, fi) => {
      const pts = new Map();
      for (const r of recs) {
        const x = state.xAxis === 'time' ? num(r.time) : num(r.step);
        const y = fieldValue(r, field);
        if (x === null || y === null) continue;
        pts.set(x, y);
        xs.add(x);
      }
      let name = field.replace('rewards.', '');
      if (chart.kind === 'eval' && recs.length) name = 'EX (' + (recs[recs.length - 1].split ?? 'held-out') + ')';
      const label = (state.runs.length > 1 ? run.name + ' · ' : '') + name;
      series.push({ label, pts, color: COLORS[(ri * 3 + (field.includes('_std') ? 0 : fi)) % COLORS.length], dash: field.includes('_std') ? [4, 4] : undefined });
    });
  });
  const x = [...xs].sort((a, b) => a - b);
  // Smoothed charts draw each series twice: the raw values faint behind, the moving average on top.
  const smoothing = chart.smooth ? state.smoothing : 0;
  const lines = [];
  for (const s of series) {
    const raw = x.map((v) => (s.pts.has(v) ? s.pts.get(v) : null));
    if (smoothing > 0) {
      lines.push({ label: s.label + ' (raw)', color: s.color + '40', dash: s.dash, width: 1, values: raw, raw: true });
      lines.push({ label: s.label, color: s.color, dash: s.dash, width: 2, values: emaSmooth(raw, smoothing) });
    } else lines.push({ label: s.label, color: s.color, dash: s.dash, width: chart.smooth ? 1.5 : 2, values: raw });
  }
  return { x, series, lines, data: [x, ...lines.map((l) => l.values)] };
}

function renderChart(chart) {
  const box = document.getElementById('chart-' + chart.id);
  const { series, lines, data } = chartData(chart);
  state.points[chart.id] = series.map((s) => s.pts.size);
  const key = lines.map((l) => l.label).join('|') + state.xAxis;
  const old = state.plots[chart.id];
  if (old && old.key === key) {
    old.plot.setData(data);
    return;
  }
  if (old) old.plot.destroy();
  const opts = {
    width: box.clientWidth - 16,
    height: 200,
    scales: { x: { time: false } },
    axes: [{ label: state.xAxis === 'time' ? 'seconds' : 'step' }, {}],
    series: [{ label: state.xAxis }, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: l.width, dash: l.dash, spanGaps: true, points: { show: !l.raw && (!chart.smooth || state.smoothing === 0), size: 4 } }))],
  };
  const plot = new uPlot(opts, data, box.querySelector('.plot'));
  // the faint raw curves are context, not series of their own: keep them out of the legend
  const rows = plot.root.querySelectorAll('.u-legend .u-series');
  lines.forEach((l, i) => { if (l.raw && rows[i + 1]) rows[i + 1].style.display = 'none'; });
  state.plots[chart.id] = { plot, key };
}

/** Where a configuration value sits in a run's config.json, whatever the nesting. */
function configValue(config, key) {
  if (!config || typeof config !== 'object') return undefined;
  if (key in config) return config[key];
  for (const v of Object.values(config)) {
    const found = configValue(v, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Why a chart is empty, in words the user can act on. */
function emptyText(chart) {
  if (chart.kind !== 'eval') return 'no data yet';
  const every = state.runs.map((r) => configValue(r.config, 'evalEvery') ?? configValue(r.config, 'eval_every')).filter((v) => v !== undefined);
  const reason = 'no held-out evaluations in metrics.jsonl yet (records with kind "eval", written every --eval-every steps)';
  return every.length && every.every((v) => v === 0) ? reason + '; this run has eval_every 0' : reason;
}

function renderCharts() {
  for (const c of CHARTS) {
    const box = document.getElementById('chart-' + c.id);
    const { series } = chartData(c);
    const empty = box.querySelector('.empty');
    empty.textContent = emptyText(c);
    empty.style.display = series.some((s) => s.pts.size) ? 'none' : 'block';
    renderChart(c);
  }
}

function renderProblems() {
  const lines = [];
  for (const run of state.runs) {
    for (const p of run.problems) lines.push(esc(run.name) + ': ' + esc(p));
  }
  const el = document.getElementById('problems');
  el.innerHTML = lines.map((l) => '<div>' + l + '</div>').join('');
  el.style.display = lines.length ? 'block' : 'none';
  document.getElementById('runs').innerHTML = state.runs
    .map((r, i) => '<span class="run" style="border-color:' + COLORS[(i * 3) % COLORS.length] + '">' + esc(r.name) + ' <small>' + r.metrics.length + ' records</small></span>')
    .join(' ');
}

function fillSelectors() {
  const runSel = document.getElementById('sample-run');
  const cur = runSel.value;
  runSel.innerHTML = state.runs.map((r, i) => '<option value="' + i + '">' + esc(r.name) + '</option>').join('');
  if (cur) runSel.value = cur;
  const run = state.runs[Number(runSel.value || 0)];
  const stepSel = document.getElementById('sample-step');
  const prev = stepSel.value;
  const steps = run ? run.sampleSteps : [];
  stepSel.innerHTML = steps.map((s) => '<option value="' + s.step + '">step ' + s.step + ' (' + s.n + ')</option>').join('');
  if (prev && steps.some((s) => String(s.step) === prev)) stepSel.value = prev;
  else if (steps.length) stepSel.value = String(steps[steps.length - 1].step);
}

function previewTable(rows) {
  if (!Array.isArray(rows)) return '<em>none</em>';
  if (!rows.length) return '<em>empty result</em>';
  return '<table class="rows">' + rows.slice(0, 5).map((r) => '<tr>' + (Array.isArray(r) ? r : [r]).map((v) => '<td>' + esc(v === null ? 'NULL' : v) + '</td>').join('') + '</tr>').join('') + '</table>';
}

async function loadSamples() {
  const run = document.getElementById('sample-run').value;
  const step = document.getElementById('sample-step').value;
  const list = document.getElementById('samples');
  if (run === '' || step === '') {
    list.innerHTML = '<p class="muted">No samples logged yet.</p>';
    return;
  }
  const res = await fetch('/api/runs/' + run + '/samples?step=' + encodeURIComponent(step));
  const samples = await res.json();
  const verdict = document.getElementById('sample-verdict').value;
  const q = document.getElementById('sample-search').value.trim().toLowerCase();
  const shown = samples.filter((s) => {
    if (verdict === 'correct' && s.status !== 'match') return false;
    if (verdict === 'wrong' && s.status !== 'mismatch') return false;
    if (verdict === 'error' && !['error', 'no_sql', 'too_large', 'gold_error'].includes(s.status)) return false;
    if (verdict === 'timeout' && s.status !== 'timeout') return false;
    if (q && ![s.question, s.sql, s.completion, s.gold_sql, s.db_id].some((t) => String(t ?? '').toLowerCase().includes(q))) return false;
    return true;
  });
  shown.sort((a, b) => (a.group ?? 0) - (b.group ?? 0) || (a.k ?? 0) - (b.k ?? 0));
  document.getElementById('sample-count').textContent = shown.length + ' of ' + samples.length + ' samples';
  list.innerHTML = shown
    .map((s) => {
      const comps = s.components && typeof s.components === 'object' ? Object.entries(s.components).map(([k, v]) => esc(k) + ' ' + fmt(v)).join(' · ') : '';
      return '<div class="sample" data-status="' + esc(s.status) + '">' +
        '<div class="head"><span class="badge ' + esc(s.status) + '">' + esc(s.status) + '</span> reward <b>' + fmt(s.reward) + '</b> · advantage ' + fmt(s.advantage) +
        ' · ' + esc(s.db_id) + ' · group ' + esc(s.group) + ' #' + esc(s.k) + '</div>' +
        '<div class="q">' + esc(s.question) + '</div>' +
        '<div class="grid"><div><h4>Predicted SQL</h4><pre>' + esc(s.sql ?? '(no SQL)') + '</pre>' + previewTable(s.pred_preview) + '</div>' +
        '<div><h4>Gold SQL</h4><pre>' + esc(s.gold_sql) + '</pre>' + previewTable(s.gold_preview) + '</div></div>' +
        (s.error ? '<div class="err">' + esc(s.error) + '</div>' : '') +
        '<div class="comps">' + comps + '</div>' +
        '<details><summary>completion</summary><pre>' + esc(s.completion) + '</pre></details></div>';
    })
    .join('');
}

async function init() {
  const res = await fetch('/api/runs');
  state.runs = await res.json();
  renderProblems();
  renderCharts();
  fillSelectors();
  await loadSamples();
  document.getElementById('xaxis').addEventListener('change', (e) => { state.xAxis = e.target.value; renderCharts(); });
  document.getElementById('smoothing').addEventListener('input', (e) => {
    state.smoothing = Number(e.target.value);
    document.getElementById('smoothing-value').textContent = state.smoothing.toFixed(2);
    renderCharts();
  });
  document.getElementById('sample-run').addEventListener('change', () => { fillSelectors(); loadSamples(); });
  for (const id of ['sample-step', 'sample-verdict']) document.getElementById(id).addEventListener('change', loadSamples);
  document.getElementById('sample-search').addEventListener('input', loadSamples);
  const es = new EventSource('/api/stream');
  es.addEventListener('update', (ev) => {
    const u = JSON.parse(ev.data);
    const run = state.runs[u.id];
    if (!run) return;
    run.metrics.push(...u.metrics);
    run.problems = u.problems;
    if (u.sampleSteps) run.sampleSteps = u.sampleSteps;
    renderProblems();
    if (u.metrics.length) renderCharts();
    if (u.sampleSteps) { fillSelectors(); loadSamples(); }
    document.getElementById('live').textContent = 'live · updated ' + new Date().toLocaleTimeString();
  });
  es.onerror = () => { document.getElementById('live').textContent = 'disconnected: retrying'; };
  window.addEventListener('resize', () => { for (const c of CHARTS) { const p = state.plots[c.id]; if (p) p.plot.setSize({ width: document.getElementById('chart-' + c.id).clientWidth - 16, height: 200 }); } });
  document.body.dataset.ready = '1';
}
init().catch((e) => { document.getElementById('problems').style.display = 'block'; document.getElementById('problems').textContent = 'dashboard failed to load: ' + e.message; });
`;

const CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { padding: 10px 16px; background: #24292f; color: #fff; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
.run { border-left: 4px solid; padding: 2px 6px; background: #333a; }
#live { margin-left: auto; font-size: 12px; opacity: .8; }
#problems { display: none; background: #fff4ce; border: 1px solid #e0c060; margin: 10px 16px; padding: 8px 12px; }
main { padding: 0 16px 24px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; margin-top: 12px; }
.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
.chart h3 { margin: 0 0 4px; font-size: 14px; }
.empty { color: #888; font-size: 12px; }
.controls { margin: 16px 0 8px; display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.sample { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 8px 0; padding: 8px 12px; }
.sample .q { font-weight: 600; margin: 4px 0; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
pre { background: #f0f2f4; padding: 6px; white-space: pre-wrap; word-break: break-word; margin: 4px 0; }
h4 { margin: 4px 0 0; font-size: 12px; color: #555; }
.badge { padding: 1px 6px; border-radius: 8px; color: #fff; background: #888; font-size: 12px; }
.badge.match { background: #2a8a3a; } .badge.mismatch { background: #c0392b; } .badge.error, .badge.no_sql { background: #8e44ad; } .badge.timeout { background: #d35400; }
.err { color: #8e44ad; font-family: monospace; font-size: 12px; }
.comps { color: #555; font-size: 12px; }
table.rows { border-collapse: collapse; font-size: 12px; } table.rows td { border: 1px solid #ddd; padding: 1px 4px; }
.muted { color: #888; }
`;

export function dashboardHtml(): string {
  const charts = CHARTS.map(
    (c) => `<div class="chart" id="chart-${c.id}"><h3>${c.title}</h3><div class="empty">no data yet</div><div class="plot"></div></div>`,
  ).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sqlrl dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/uplot.css"><style>${CSS}</style></head>
<body>
<header><h1>sqlrl</h1><div id="runs"></div>
<label>x-axis <select id="xaxis"><option value="step">step</option><option value="time">wall time</option></select></label>
<label title="exponential moving average of the training curves, as TensorBoard's: 0 shows the raw values">smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="${DEFAULT_SMOOTHING}"> <output id="smoothing-value">${DEFAULT_SMOOTHING.toFixed(2)}</output></label>
<span id="live">connecting…</span></header>
<div id="problems"></div>
<main>
<div class="charts">${charts}</div>
<h2>Samples</h2>
<div class="controls">
<label>run <select id="sample-run"></select></label>
<label>step <select id="sample-step"></select></label>
<label>verdict <select id="sample-verdict"><option value="all">all</option><option value="correct">correct</option><option value="wrong">wrong</option><option value="error">error</option><option value="timeout">timeout</option></select></label>
<input id="sample-search" type="search" placeholder="search question / SQL">
<span id="sample-count" class="muted"></span>
</div>
<div id="samples"></div>
</main>
<script src="/assets/uplot.js"></script>
<script>${CLIENT.replace('__CHARTS__', () => JSON.stringify(CHARTS)).replace('__SMOOTHING__', () => String(DEFAULT_SMOOTHING)).replace('__EMA_SMOOTH__', () => emaSmooth.toString())}</script>
</body></html>`;
}
