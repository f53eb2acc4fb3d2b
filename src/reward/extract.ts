// SQL out of a model's completion, deterministically: from <answer>…</answer> (with or without a
// <think> block before it), else from the last ```sql fenced block, else bare SQL. Reports where it
// came from and whether the completion followed SQL-R1's required format.
import { segments } from '../sql/compare.js';

export type SqlSource = 'answer' | 'fence' | 'bare' | 'none';

export interface Extraction {
  /** The SQL to run (first statement only, trimmed, no trailing ';'), or null when none was found. */
  sql: string | null;
  source: SqlSource;
  /**
   * SQL-R1's format rule: exactly one each of <think>, </think>, <answer>, </answer>, in that order,
   * and a ```sql block inside the answer.
   */
  formatOk: boolean;
  /** Text of the <think> block and of the <answer> block, when present (the length reward reads them). */
  think: string | null;
  answer: string | null;
  /** The extracted text held more than one statement; only the first is kept. */
  multipleStatements: boolean;
  /** A tag or fence was opened and never closed (the text to the end was used). */
  unclosed: boolean;
}

const count = (s: string, sub: string) => s.split(sub).length - 1;

/** The last fenced block (```sql preferred, else any ```), and whether it was closed. */
export function lastFence(text: string): { body: string; closed: boolean } | null {
  const re = /```([A-Za-z0-9_-]*)[^\S\n]*\n?([\s\S]*?)(```|$)/g;
  type Fence = { body: string; closed: boolean; lang: string };
  let best: Fence | null = null;
  let bestSql: Fence | null = null;
  for (const m of text.matchAll(re)) {
    const cand = { body: m[2]!, closed: m[3] === '```', lang: m[1]!.toLowerCase() };
    best = cand;
    if (cand.lang === 'sql' || cand.lang === 'sqlite') bestSql = cand;
    if (!cand.closed) break;
  }
  const pick = bestSql ?? best;
  return pick ? { body: pick.body, closed: pick.closed } : null;
}

/** Cuts at the first top-level ';' (outside strings and comments); reports whether more followed. */
export function firstStatement(sql: string): { sql: string; more: boolean } {
  let out = '';
  for (const s of segments(sql)) {
    if (s.opaque) {
      out += s.text;
      continue;
    }
    const i = s.text.indexOf(';');
    if (i >= 0) {
      out += s.text.slice(0, i);
      const rest = sql.slice(out.length + 1);
      return { sql: out.trim(), more: /\S/.test(rest.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, '')) };
    }
    out += s.text;
  }
  return { sql: out.trim(), more: false };
}

/** Bare SQL in prose: from the first SELECT/WITH to the end of its statement or to a blank line. */
function bareSql(text: string): string | null {
  const m = /\b(select|with)\b/i.exec(text);
  if (!m) return null;
  const rest = text.slice(m.index);
  const para = rest.split(/\n\s*\n/)[0]!;
  return para;
}

export function extractSql(completion: string): Extraction {
  const opens = count(completion, '<think>');
  const closes = count(completion, '</think>');
  const aOpen = completion.lastIndexOf('<answer>');
  const tStart = completion.indexOf('<think>');
  const tEnd = completion.indexOf('</think>');
  const think = tStart >= 0 ? completion.slice(tStart + 7, tEnd > tStart ? tEnd : undefined) : null;
  let answer: string | null = null;
  let unclosed = false;
  let raw: string | null = null;
  let source: SqlSource = 'none';
  if (aOpen >= 0) {
    const aClose = completion.indexOf('</answer>', aOpen);
    unclosed = aClose < 0;
    answer = completion.slice(aOpen + 8, unclosed ? undefined : aClose);
    const fence = lastFence(answer);
    raw = fence ? fence.body : answer;
    if (fence && !fence.closed) unclosed = true;
    source = 'answer';
  } else {
    const fence = lastFence(completion);
    if (fence) {
      raw = fence.body;
      unclosed = !fence.closed;
      source = 'fence';
    } else {
      raw = bareSql(completion.replace(/<\/?think>/g, ' '));
      source = raw ? 'bare' : 'none';
    }
  }
  let sql: string | null = null;
  let multipleStatements = false;
  if (raw !== null) {
    const first = firstStatement(raw);
    multipleStatements = first.more;
    sql = first.sql || null;
  }
  if (!sql) source = source === 'answer' ? 'answer' : 'none';
  const order = [completion.indexOf('<think>'), completion.indexOf('</think>'), completion.indexOf('<answer>'), completion.indexOf('</answer>')];
  const formatOk =
    opens === 1 &&
    closes === 1 &&
    count(completion, '<answer>') === 1 &&
    count(completion, '</answer>') === 1 &&
    order.every((v, i) => v >= 0 && (i === 0 || v > order[i - 1]!)) &&
    answer !== null &&
    /```sql/i.test(answer);
  return { sql, source, formatOk, think, answer, multipleStatements, unclosed };
}
