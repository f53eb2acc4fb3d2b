// SQL out of a model's response, under one of three rules:
//  - 'sql-r1': SQL-R1's published code (synsql.py): the last <answer>…</answer>, stripped; in it the last
//    closed, case-sensitive ```sql … ``` block, stripped, whitespace runs collapsed to one space; only when
//    SQL-R1's format check passes (otherwise no SQL: the original never parses it);
//  - 'arctic': Arctic-Text2SQL-R1's / OmniSQL's parse_response: the last closed ```sql … ``` block anywhere
//    in the response, stripped; nothing else;
//  - 'lenient': whatever a model plausibly meant: <answer> (closed or not), any fence (```SQL, ```sqlite,
//    unclosed), else bare SQL in prose.
// The response is what the model wrote after the assistant header, including any text the prompt prefilled
// (a `prefix` such as '<think>\n'): callers pass prefix + completion. Whitespace and strip() follow Python's
// definition (str.isspace), as the published code runs in Python.
import { hasSecondStatement } from '../sql/compare.js';

export type ExtractRule = 'lenient' | 'sql-r1' | 'arctic';
export const EXTRACT_RULES: ExtractRule[] = ['lenient', 'sql-r1', 'arctic'];

export type SqlSource = 'answer' | 'fence' | 'bare' | 'none';

export interface Extraction {
  /** The SQL to run, or null when the rule finds none. Several statements are kept: the compare mode decides. */
  sql: string | null;
  source: SqlSource;
  /**
   * SQL-R1's format rule on the response: exactly one each of <think>, </think>, <answer>, </answer>, in
   * that order, and a closed ```sql block (case-sensitive) with non-empty content in the answer.
   */
  formatOk: boolean;
  /** OmniSQL's output format: the response holds a closed ```sql block (case-sensitive) with non-empty content. */
  fenced: boolean;
  /** SQL-R1's think and answer texts: the last <think>…</think> / <answer>…</answer>, stripped (the length term reads them). */
  think: string | null;
  answer: string | null;
  /** The SQL holds more than one statement (Python's sqlite3 rule: anything but whitespace and comments after the first ';'). */
  multipleStatements: boolean;
  /** Lenient rule only: a tag or fence was opened and never closed (the text to the end was used). */
  unclosed: boolean;
}

/** Python's str.isspace() characters: what `\s` and `.strip()` mean in the published code (JS's \s differs: \ufeff, \x1c-\x1f, \x85). */
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');
const PY_WS_RUN = new RegExp(`[${PY_WS}]+`, 'g');

/** Python's str.strip(). */
export const pyStrip = (s: string) => s.replace(PY_STRIP, '');
/** SQL-R1's `re.sub(r'\s+', ' ', sql)`. */
export const collapseWhitespace = (s: string) => s.replace(PY_WS_RUN, ' ');

const count = (s: string, sub: string) => s.split(sub).length - 1;
const lastGroup = (text: string, re: RegExp): string | null => {
  let last: string | null = null;
  for (const m of text.matchAll(re)) last = m[1]!;
  return last;
};

const THINK = /<think>([\s\S]*?)<\/think>/g;
const ANSWER = /<answer>([\s\S]*?)<\/answer>/g;
/** SQL-R1's parse_sql_from_answer pattern: ```sql(.*?)``` (DOTALL). */
const SQL_R1_FENCE = /```sql([\s\S]*?)```/g;
/** Arctic's / OmniSQL's parse_response pattern: ```sql\s*(.*?)\s*``` (DOTALL). */
const ARCTIC_FENCE = new RegExp(`\`\`\`sql[${PY_WS}]*([\\s\\S]*?)[${PY_WS}]*\`\`\``, 'g');

/** SQL-R1's extract_solution + validate_response_structure: think, answer, the SQL (uncollapsed) and the format verdict. */
export function sqlR1Parts(response: string): { think: string | null; answer: string | null; sql: string | null; formatOk: boolean } {
  const t = lastGroup(response, THINK);
  const a = lastGroup(response, ANSWER);
  const think = t === null ? null : pyStrip(t);
  const answer = a === null ? null : pyStrip(a);
  const tags = ['<think>', '</think>', '<answer>', '</answer>'];
  let ok = tags.every((tag) => count(response, tag) === 1);
  const [ts, te, as, ae] = tags.map((tag) => response.indexOf(tag)) as [number, number, number, number];
  if (ts > te || te > as || as > ae) ok = false;
  let sql: string | null = null;
  if (ok) {
    const body = answer === null ? null : lastGroup(answer, SQL_R1_FENCE);
    sql = body === null ? null : pyStrip(body);
    if (!sql) ok = false;
  }
  return { think, answer, sql: ok ? sql : null, formatOk: ok };
}

/** Arctic's / OmniSQL's parse_response: the last closed ```sql block, stripped; null when there is none or it is empty. */
export function arcticSql(response: string): string | null {
  const body = lastGroup(response, ARCTIC_FENCE);
  const sql = body === null ? null : pyStrip(body);
  return sql ? sql : null;
}

/** The last fenced block (```sql preferred, else any ```, any case), and whether it was closed (lenient rule). */
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

/** Bare SQL in prose: from the first SELECT/WITH to a blank line. */
function bareSql(text: string): string | null {
  const m = /\b(select|with)\b/i.exec(text);
  if (!m) return null;
  return text.slice(m.index).split(/\n\s*\n/)[0]!;
}

/** Trimmed, trailing ';' (and whitespace) dropped: the statements themselves are kept for the compare mode to judge. */
const tidy = (sql: string) => sql.trim().replace(/(\s*;)+$/, '').trim();

function lenientSql(response: string): { sql: string | null; source: SqlSource; unclosed: boolean } {
  const aOpen = response.lastIndexOf('<answer>');
  let raw: string | null;
  let source: SqlSource;
  let unclosed = false;
  if (aOpen >= 0) {
    const aClose = response.indexOf('</answer>', aOpen);
    unclosed = aClose < 0;
    const answer = response.slice(aOpen + 8, unclosed ? undefined : aClose);
    const fence = lastFence(answer);
    raw = fence ? fence.body : answer;
    if (fence && !fence.closed) unclosed = true;
    source = 'answer';
  } else {
    const fence = lastFence(response);
    if (fence) {
      raw = fence.body;
      unclosed = !fence.closed;
      source = 'fence';
    } else {
      raw = bareSql(response.replace(/<\/?think>/g, ' '));
      source = raw ? 'bare' : 'none';
    }
  }
  const sql = raw === null ? null : tidy(raw) || null;
  return { sql, source: sql ? source : source === 'answer' ? 'answer' : 'none', unclosed };
}

/** SQL out of a response (prefix + completion) under a rule. */
export function extractWith(rule: ExtractRule, response: string): Extraction {
  const r1 = sqlR1Parts(response);
  const fencedSql = arcticSql(response);
  const base = { formatOk: r1.formatOk, fenced: fencedSql !== null, think: r1.think, answer: r1.answer };
  let sql: string | null;
  let source: SqlSource;
  let unclosed = false;
  switch (rule) {
    case 'sql-r1':
      sql = r1.sql === null ? null : collapseWhitespace(r1.sql);
      source = sql ? 'answer' : 'none';
      break;
    case 'arctic':
      sql = fencedSql;
      source = sql ? 'fence' : 'none';
      break;
    case 'lenient':
      ({ sql, source, unclosed } = lenientSql(response));
      break;
  }
  return { ...base, sql, source, unclosed, multipleStatements: sql !== null && hasSecondStatement(sql) };
}

/** The lenient rule (evaluation's default: any plausible SQL counts). */
export function extractSql(response: string): Extraction {
  return extractWith('lenient', response);
}

/** The gold SQL as a rule's original code runs it: SQL-R1 collapses whitespace in the gold too. */
export function goldForRule(rule: ExtractRule, goldSql: string): string {
  return rule === 'sql-r1' ? collapseWhitespace(goldSql) : goldSql;
}

/**
 * Why a rule finds no SQL in what a prompt template asks for, or null: 'compact' asks for bare SQL, which
 * the 'arctic' and 'sql-r1' rules never take (their papers' models answer in a ```sql block). A run
 * config can refuse the pair up front instead of training on rewards that are all "no SQL".
 */
export function extractionMismatch(rule: ExtractRule, template: 'plain' | 'think' | 'compact'): string | null {
  if (template === 'compact' && rule !== 'lenient') return `the '${template}' template asks for bare SQL, which the '${rule}' extraction rule never takes (it needs a \`\`\`sql block): use extract: lenient`;
  if (template === 'plain' && rule === 'sql-r1') return `the 'plain' template asks for a \`\`\`sql block without <think>/<answer> tags, which the 'sql-r1' rule requires: use the 'think' template, or extract: arctic or lenient`;
  return null;
}
