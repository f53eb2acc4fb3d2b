// Self-contained HTML evaluation reports: accuracy by bucket (inline SVG bars), the error
// taxonomy, an example browser (question / gold / prediction / result rows) and, for
// `sqlrl compare`, the per-example diff table. One file, no external assets.
import { classifyError, ERROR_CLASSES } from './taxonomy.js';
import type { DeltaStats } from './run-compare.js';

/** The fields of an evaluation report (`sqlrl eval --report`) that the page reads. */
export interface ReportExample {
  index: number;
  db_id: string;
  hardness?: string;
  status: string;
  gold: string;
  pred: string | null;
  question?: string;
  error?: string | null;
  pred_preview?: unknown[][] | null;
  gold_preview?: unknown[][] | null;
  ms?: number;
}

export interface BucketAcc {
  n: number;
  execution_accuracy: number;
}

export interface ReportSummary {
  total: number;
  evaluated: number;
  execution_accuracy: number;
  by_hardness?: Record<string, BucketAcc>;
  by_db?: Record<string, BucketAcc>;
  [key: string]: unknown;
}

export interface EvalReportJson {
  summary: ReportSummary;
  examples: ReportExample[];
}

export interface ComparisonJson {
  a: string;
  b: string;
  overall: DeltaStats;
  byBucket: Record<string, DeltaStats>;
  examples: { index: number; bucket: string; a: boolean; b: boolean; question?: string; gold: string; predA: string | null; predB: string | null }[];
}

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Horizontal bar chart in inline SVG: one bar per bucket, labelled with accuracy and n. */
export function barChartSvg(title: string, buckets: [string, BucketAcc][]): string {
  const rowH = 22;
  const labelW = 170;
  const barW = 300;
  const h = 28 + rowH * buckets.length;
  const bars = buckets
    .map(([name, b], i) => {
      const y = 24 + i * rowH;
      const w = Math.round(barW * b.execution_accuracy);
      return `<g class="bar" data-bucket="${escapeHtml(name)}"><text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${escapeHtml(name)}</text>` +
        `<rect x="${labelW}" y="${y + 2}" width="${barW}" height="${rowH - 6}" fill="#eef"/>` +
        `<rect x="${labelW}" y="${y + 2}" width="${w}" height="${rowH - 6}" fill="#4a6fd1"/>` +
        `<text x="${labelW + barW + 6}" y="${y + 14}">${pct(b.execution_accuracy)} (n=${b.n})</text></g>`;
    })
    .join('');
  return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" width="${labelW + barW + 110}" height="${h}" font-size="12" font-family="sans-serif">` +
    `<text x="0" y="14" font-weight="bold">${escapeHtml(title)}</text>${bars}</svg>`;
}

function previewTable(rows: unknown[][] | null | undefined): string {
  if (!Array.isArray(rows)) return '';
  if (!rows.length) return '<em>empty result</em>';
  return `<table class="rows">${rows.slice(0, 5).map((r) => `<tr>${(Array.isArray(r) ? r : [r]).map((v) => `<td>${escapeHtml(v === null ? 'NULL' : v)}</td>`).join('')}</tr>`).join('')}</table>`;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}h1{font-size:20px}table.list{border-collapse:collapse;width:100%}
table.list td,table.list th{border-bottom:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:12px}
.match,.fixed{color:#2a8a3a}.mismatch,.broken{color:#c0392b}.error,.timeout,.no_sql{color:#8e44ad}.cards{display:flex;gap:16px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{font-size:22px;display:block}table.rows{border-collapse:collapse;font-size:11px}table.rows td{border:1px solid #ddd;padding:0 3px}.controls{margin:10px 0;display:flex;gap:8px}`;

const FILTER_JS = `const q=document.getElementById('q'),f=document.getElementById('f');function apply(){const t=q.value.toLowerCase(),s=f.value;let n=0;
for(const r of document.querySelectorAll('tr.ex')){const ok=(s==='all'||r.dataset.status===s)&&(!t||r.textContent.toLowerCase().includes(t));r.style.display=ok?'':'none';if(ok)n++}
document.getElementById('shown').textContent=n+' shown'}q.addEventListener('input',apply);f.addEventListener('change',apply);apply();`;

function page(title: string, body: string, statuses: string[]): string {
  const options = ['all', ...statuses].map((s) => `<option value="${escapeHtml(s)}">${escapeHtml(s)}</option>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>
<h1>${escapeHtml(title)}</h1>${body.replace('__FILTER__', `<div class="controls"><input id="q" type="search" placeholder="search"><select id="f">${options}</select><span id="shown"></span></div>`)}
<script>${FILTER_JS}</script></body></html>`;
}

/** The report of one evaluation run. */
export function evalReportHtml(report: EvalReportJson, title = 'sqlrl evaluation'): string {
  const s = report.summary;
  const taxonomy = new Map<string, number>();
  for (const e of report.examples) {
    if (e.status === 'db_missing') continue;
    const c = classifyError(e.status, e.error);
    taxonomy.set(c, (taxonomy.get(c) ?? 0) + 1);
  }
  const cards = `<div class="cards"><div class="card" id="ex-overall">execution accuracy<b>${pct(s.execution_accuracy)}</b>${s.evaluated} of ${s.total} evaluated</div>` +
    ERROR_CLASSES.filter((c) => taxonomy.has(c)).map((c) => `<div class="card" data-class="${c}">${c.replace('_', ' ')}<b>${taxonomy.get(c)}</b></div>`).join('') + '</div>';
  const charts = [
    s.by_hardness ? barChartSvg('By hardness', Object.entries(s.by_hardness)) : '',
    s.by_db ? barChartSvg('By database', Object.entries(s.by_db).sort((a, b) => a[0].localeCompare(b[0]))) : '',
  ].join('');
  const rows = report.examples
    .map((e) => `<tr class="ex" data-status="${escapeHtml(e.status)}"><td>${e.index}</td><td>${escapeHtml(e.db_id)}<br><small>${escapeHtml(e.hardness ?? '')}</small></td>` +
      `<td class="${escapeHtml(e.status)}">${escapeHtml(e.status)}</td><td>${e.question ? `<b>${escapeHtml(e.question)}</b>` : ''}<pre>gold: ${escapeHtml(e.gold)}</pre>${previewTable(e.gold_preview)}</td>` +
      `<td><pre>${escapeHtml(e.pred ?? '(no SQL)')}</pre>${e.error ? `<small class="error">${escapeHtml(e.error)}</small>` : ''}${previewTable(e.pred_preview)}</td></tr>`)
    .join('');
  const statuses = [...new Set(report.examples.map((e) => e.status))].sort();
  return page(title, `${cards}<div>${charts}</div><h2>Examples</h2>__FILTER__<table class="list"><tr><th>#</th><th>db</th><th>verdict</th><th>question / gold</th><th>prediction</th></tr>${rows}</table>`, statuses);
}

/** The report of `sqlrl compare A B`. */
export function comparisonHtml(cmp: ComparisonJson): string {
  const o = cmp.overall;
  const cards = `<div class="cards"><div class="card" id="acc-a">A: ${escapeHtml(cmp.a)}<b>${pct(o.accA)}</b></div><div class="card" id="acc-b">B: ${escapeHtml(cmp.b)}<b>${pct(o.accB)}</b></div>` +
    `<div class="card" id="delta">B − A<b>${o.delta >= 0 ? '+' : ''}${(100 * o.delta).toFixed(1)} pts</b>95% CI [${(100 * o.ci95[0]).toFixed(1)}, ${(100 * o.ci95[1]).toFixed(1)}]</div>` +
    `<div class="card">fixed<b class="fixed">${o.fixed}</b></div><div class="card">broken<b class="broken">${o.broken}</b></div><div class="card">both wrong<b>${o.bothWrong}</b></div></div>`;
  const bucketRows = Object.entries(cmp.byBucket)
    .map(([k, d]) => `<tr><td>${escapeHtml(k)}</td><td>${d.n}</td><td>${pct(d.accA)}</td><td>${pct(d.accB)}</td><td>${(100 * d.delta).toFixed(1)} [${(100 * d.ci95[0]).toFixed(1)}, ${(100 * d.ci95[1]).toFixed(1)}]</td><td>${d.fixed}</td><td>${d.broken}</td></tr>`)
    .join('');
  const kind = (e: ComparisonJson['examples'][number]) => (e.a && e.b ? 'both_right' : !e.a && !e.b ? 'both_wrong' : e.b ? 'fixed' : 'broken');
  const rows = cmp.examples
    .filter((e) => !(e.a && e.b))
    .map((e) => `<tr class="ex" data-status="${kind(e)}"><td>${e.index}</td><td>${escapeHtml(e.bucket)}</td><td class="${kind(e)}">${kind(e).replace('_', ' ')}</td>` +
      `<td>${e.question ? `<b>${escapeHtml(e.question)}</b>` : ''}<pre>gold: ${escapeHtml(e.gold)}</pre></td><td><pre>${escapeHtml(e.predA ?? '')}</pre></td><td><pre>${escapeHtml(e.predB ?? '')}</pre></td></tr>`)
    .join('');
  return page(`sqlrl compare: ${cmp.a} vs ${cmp.b}`,
    `${cards}<h2>By bucket</h2><table class="list"><tr><th>bucket</th><th>n</th><th>A</th><th>B</th><th>Δ pts [95% CI]</th><th>fixed</th><th>broken</th></tr>${bucketRows}</table>` +
    `<h2>Examples that differ or are both wrong</h2>__FILTER__<table class="list"><tr><th>#</th><th>bucket</th><th>change</th><th>question / gold</th><th>A</th><th>B</th></tr>${rows}</table>`,
    ['fixed', 'broken', 'both_wrong']);
}
