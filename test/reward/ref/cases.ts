// The completions the reference test scores: mutations of Spider dev gold SQL that a model plausibly writes,
// and the extraction rules' edge cases (fences, tags, a prefilled <think>, statements, DISTINCT, ORDER BY).
import { loadSpider, missingDatabases } from '../../../src/data/datasets.js';
import type { Example } from '../../../src/data/types.js';
import { rng } from '../../../src/random.js';

export interface Case {
  id: string;
  kind: string;
  prefix: string;
  completion: string;
  gold: string;
  db: string;
  db_id: string;
}

const THINK = 'I read the schema and the question, then pick the columns.';
const tagged = (sql: string, open = '<think>\n') => `${open}${THINK}\n</think>\n<answer>\nThe query:\n\`\`\`sql\n${sql}\n\`\`\`\n</answer>`;

/** Whitespace runs of several kinds between tokens, and a spaced trailing ';'. */
function spaced(sql: string, random: () => number): string {
  const seps = [' ', '\n', '  ', '\n\t', ' \n  '];
  return sql.split(' ').map((w, i) => (i === 0 ? w : seps[Math.floor(random() * seps.length)]! + w)).join('') + ' ;';
}

function distinctToggled(sql: string): string {
  return /^\s*select\s+distinct\b/i.test(sql) ? sql.replace(/^(\s*select\s+)distinct\s+/i, '$1') : sql.replace(/^(\s*select)\b/i, '$1 DISTINCT');
}

function orderChanged(sql: string): string {
  if (/\bdesc\b/i.test(sql)) return sql.replace(/\bdesc\b/i, 'ASC');
  if (/\border\s+by\b/i.test(sql) && !/\blimit\b/i.test(sql)) return `${sql} DESC`;
  if (!/\border\s+by\b|\blimit\b/i.test(sql)) return `${sql} ORDER BY 1 DESC`;
  return sql.replace(/\basc\b/i, 'DESC');
}

/** The completions of one example: each a mutation a model plausibly writes, or one of the rules' edge cases. */
function mutations(ex: Example, other: string, random: () => number): { kind: string; prefix: string; completion: string }[] {
  const g = ex.goldSql;
  const body = (sql: string) => tagged(sql).slice('<think>\n'.length);
  return [
    { kind: 'canonical', prefix: '', completion: tagged(g) },
    { kind: 'prefilled-think', prefix: '<think>\n', completion: body(g) },
    { kind: 'prefill-not-passed', prefix: '', completion: body(g) },
    { kind: 'think-twice', prefix: '<think>\n', completion: tagged(g) },
    { kind: 'upper-case-fence', prefix: '', completion: tagged(g).replace('```sql', '```SQL') },
    { kind: 'unclosed-fence', prefix: '', completion: tagged(g).replace('\n```\n</answer>', '\n</answer>') },
    { kind: 'empty-block', prefix: '', completion: tagged('') },
    { kind: 'whitespace-and-semicolon', prefix: '', completion: tagged(spaced(g, random)) },
    { kind: 'two-statements', prefix: '', completion: tagged(`${g}; SELECT 1`) },
    { kind: 'trailing-comment', prefix: '', completion: tagged(`${g}; -- done`) },
    { kind: 'leading-comment', prefix: '', completion: tagged(`-- the query\n${g}`) },
    { kind: 'distinct-toggled', prefix: '', completion: tagged(distinctToggled(g)) },
    { kind: 'order-changed', prefix: '', completion: tagged(orderChanged(g)) },
    { kind: 'other-question', prefix: '', completion: tagged(other) },
    { kind: 'broken', prefix: '', completion: tagged(g.replace(/\bfrom\b/i, 'FROM nosuch_')) },
    { kind: 'bare-answer', prefix: '', completion: `<think>\n${THINK}\n</think>\n<answer>\n${g}\n</answer>` },
    { kind: 'fence-outside-answer', prefix: '', completion: `<think>\n\`\`\`sql\n${g}\n\`\`\`\n</think>\n<answer>\nsee above\n</answer>` },
    { kind: 'sqlite-fence', prefix: '', completion: tagged(g).replace('```sql', '```sqlite') },
  ];
}

/** 24 Spider dev questions × 18 mutations, plus 6 completions whose gold query raises (438 in all). */
export function referenceCases(spiderDir: string): Case[] {
  const all = loadSpider(spiderDir, 'dev');
  const missing = new Set(missingDatabases(all).map((e) => e.index));
  const ex = all.filter((e) => !missing.has(e.index));
  const random = rng(15);
  const picked: Example[] = [];
  while (picked.length < 24) {
    const e = ex[Math.floor(random() * ex.length)]!;
    if (!picked.includes(e)) picked.push(e);
  }
  const out: Case[] = [];
  for (const e of picked) {
    const same = ex.filter((x) => x.dbId === e.dbId && x.goldSql !== e.goldSql);
    const other = same.length ? same[Math.floor(random() * same.length)]!.goldSql : 'SELECT 1';
    for (const m of mutations(e, other, random)) out.push({ id: `${e.id}/${m.kind}`, ...m, gold: e.goldSql, db: e.dbPath, db_id: e.dbId });
  }
  // gold queries that raise: the one documented deviation
  for (const e of picked.slice(0, 6)) {
    out.push({ id: `${e.id}/gold-raises`, kind: 'gold-raises', prefix: '', completion: tagged(e.goldSql), gold: e.goldSql.replace(/\bfrom\b/i, 'FROM nosuch_'), db: e.dbPath, db_id: e.dbId });
  }
  return out;
}

