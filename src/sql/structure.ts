// SQL structure for rewards: the clauses of a query as normalized item sets (structural similarity,
// seeds 000 and 004), its normalized tokens (seed 003), the tables and columns it names (schema
// hallucination, seed 004), and a parser-only syntax check. Text-level splitting at the top level
// of the query (outside parentheses, strings and comments) keeps this total: any text gets an answer.
import { segments } from './compare.js';

/** Tokens: quoted strings whole, identifiers and keywords lower-cased, numbers, operators. */
export function sqlTokens(sql: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:('(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])|(\d+(?:\.\d+)?)|([A-Za-z_][\w$]*)|(>=|<=|!=|<>|\|\||==)|(\S))/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < sql.length && (m = re.exec(sql)) !== null) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
    else if (m[3] !== undefined) out.push(m[3].toLowerCase());
    else if (m[4] !== undefined) out.push(m[4] === '<>' ? '!=' : m[4] === '==' ? '=' : m[4]);
    else if (m[5] !== undefined && m[5] !== ';') out.push(m[5]);
  }
  return out;
}

export function jaccard<T>(a: Iterable<T>, b: Iterable<T>): number {
  const sa = new Set(a);
  const sb = new Set(b);
  if (sa.size === 0 && sb.size === 0) return 1;
  let inter = 0;
  for (const x of sa) if (sb.has(x)) inter++;
  return inter / (sa.size + sb.size - inter);
}

export type ClauseName = 'select' | 'from' | 'join' | 'where' | 'groupBy' | 'having' | 'orderBy' | 'limit';
export const CLAUSES: ClauseName[] = ['select', 'from', 'join', 'where', 'groupBy', 'having', 'orderBy', 'limit'];
export type Clauses = Record<ClauseName, string[]>;

const CLAUSE_START = /\b(select|from|where|group\s+by|having|order\s+by|limit|union\s+all|union|intersect|except)\b/gi;

/** The outermost query's text with nested parentheses' contents masked (so splitting sees the top level only). */
function topLevelMask(sql: string): { text: string; masked: string } {
  let text = '';
  let masked = '';
  let depth = 0;
  for (const s of segments(sql)) {
    text += s.text;
    if (s.opaque) {
      masked += depth > 0 ? ' '.repeat(s.text.length) : s.text.replace(/[^\n]/g, 'x');
      continue;
    }
    for (const c of s.text) {
      if (c === ')') depth = Math.max(0, depth - 1);
      masked += depth > 0 ? ' ' : c;
      if (c === '(') depth++;
    }
  }
  return { text, masked };
}

function splitTopLevel(text: string, masked: string, sep: RegExp): string[] {
  const parts: string[] = [];
  let last = 0;
  for (const m of masked.matchAll(sep)) {
    parts.push(text.slice(last, m.index));
    last = m.index! + m[0].length;
  }
  parts.push(text.slice(last));
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** Alias -> table name, from `FROM t AS a` / `JOIN t a` (text level; good enough to unify T1.x with t.x). */
export function aliasMap(sql: string): Map<string, string> {
  const map = new Map<string, string>();
  const re = /\b(?:from|join)\s+([A-Za-z_][\w$]*)(?:\s+(?:as\s+)?([A-Za-z_][\w$]*))?/gi;
  const reserved = new Set(['where', 'join', 'on', 'group', 'order', 'limit', 'inner', 'left', 'right', 'outer', 'cross', 'natural', 'union', 'intersect', 'except', 'having', 'using']);
  for (const m of sql.matchAll(re)) {
    const table = m[1]!.toLowerCase();
    const alias = m[2]?.toLowerCase();
    if (alias && !reserved.has(alias)) map.set(alias, table);
    map.set(table, table);
  }
  return map;
}

/** Normalized item text: tokens joined by one space, alias qualifiers replaced by their table. */
function normalizeItem(item: string, aliases: Map<string, string>): string {
  const toks = sqlTokens(item);
  const out: string[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (toks[i + 1] === '.' && aliases.has(t)) {
      out.push(`${aliases.get(t)}.`);
      continue;
    }
    if (t === '.' && out.length && out[out.length - 1]!.endsWith('.')) continue;
    out.push(t);
  }
  return out.join(' ').replace(/\. /g, '.').replace(/ \( /g, '(').replace(/\( /g, '(').replace(/ \)/g, ')');
}

/** The outermost SELECT's clauses as sets of normalized items (select items, conditions split on AND/OR, joined tables, ...). */
export function clauseComponents(sql: string): Clauses {
  const out: Clauses = { select: [], from: [], join: [], where: [], groupBy: [], having: [], orderBy: [], limit: [] };
  const { text, masked } = topLevelMask(sql.trim().replace(/;\s*$/, ''));
  const aliases = aliasMap(sql);
  const marks = [...masked.matchAll(CLAUSE_START)].map((m) => ({ kw: m[1]!.toLowerCase().replace(/\s+/g, ' '), at: m.index!, end: m.index! + m[0].length }));
  const stopAt = marks.findIndex((m) => /^(union|intersect|except)/.test(m.kw));
  const used = stopAt >= 0 ? marks.slice(0, stopAt) : marks;
  const endOfQuery = stopAt >= 0 ? marks[stopAt]!.at : text.length;
  used.forEach((m, i) => {
    const end = i + 1 < used.length ? used[i + 1]!.at : endOfQuery;
    const body = text.slice(m.end, end);
    const bodyMask = masked.slice(m.end, end);
    const norm = (parts: string[]) => parts.map((p) => normalizeItem(p, aliases)).filter(Boolean);
    switch (m.kw) {
      case 'select':
        out.select.push(...norm(splitTopLevel(body.replace(/^\s*distinct\b/i, (d) => ' '.repeat(d.length)), bodyMask.replace(/^\s*distinct\b/i, (d) => ' '.repeat(d.length)), /,/g)).map((s) => s.replace(/ as [\w$]+$/, '')));
        if (/^\s*distinct\b/i.test(body)) out.select.push('distinct');
        break;
      case 'from': {
        const pieces = splitTopLevel(body, bodyMask, /\b(?:(?:inner|left|right|full|cross|natural)\s+)?(?:outer\s+)?join\b|,/gi);
        pieces.forEach((p, k) => {
          const [tablePart, on] = p.split(/\bon\b/i) as [string, string | undefined];
          const table = (tablePart.trim().split(/\s+/)[0] ?? '').toLowerCase();
          if (k === 0) out.from.push(table);
          else out.join.push(table);
          if (on) out.join.push(...norm(on.split(/\band\b/i)).map((c) => `on ${c}`));
        });
        break;
      }
      case 'where':
      case 'having': {
        const items = norm(splitTopLevel(body, bodyMask, /\b(?:and|or)\b/gi));
        const ors = (bodyMask.match(/\bor\b/gi) ?? []).length;
        (m.kw === 'where' ? out.where : out.having).push(...items, ...(ors ? [`or x${ors}`] : []));
        break;
      }
      case 'group by':
        out.groupBy.push(...norm(splitTopLevel(body, bodyMask, /,/g)));
        break;
      case 'order by':
        out.orderBy.push(...norm(splitTopLevel(body, bodyMask, /,/g)).map((s) => (/ (asc|desc)$/.test(s) ? s : `${s} asc`)));
        break;
      case 'limit':
        out.limit.push(normalizeItem(body, aliases));
        break;
    }
  });
  // BETWEEN x AND y was split on its AND: glue it back.
  for (const k of ['where', 'having'] as const) {
    const items = out[k];
    for (let i = 0; i + 1 < items.length; i++) if (/ between /.test(items[i]!) && !/ between .* and /.test(items[i]!)) items.splice(i, 2, `${items[i]} and ${items[i + 1]}`);
  }
  return out;
}

/** All clause items as one set ("clause:item"), for seed 000's Jaccard over components. */
export function componentSet(c: Clauses): string[] {
  return CLAUSES.flatMap((k) => c[k].map((item) => `${k}:${item}`));
}

export interface NameRefs {
  /** Table names used in FROM/JOIN (CTE names excluded). */
  tables: string[];
  /** Column references: the table they name (resolved through aliases) or null, and the column. */
  columns: { table: string | null; column: string; quoted: boolean }[];
  /** Output aliases (`AS name`) and CTE names, which are not schema names. */
  localNames: Set<string>;
}

const KEYWORDS = new Set(
  ('select from where group by having order limit offset join inner left right full outer cross natural on using as and or not in is null like glob between ' +
    'exists case when then else end distinct all union intersect except asc desc with recursive cast collate escape true false current_date current_time current_timestamp ' +
    'count sum avg min max abs round length lower upper substr substring trim ltrim rtrim replace ifnull nullif coalesce instr strftime date time datetime julianday total group_concat random typeof printf iif char hex quote unicode over partition rows range preceding following unbounded current row filter integer real text blob numeric varchar int float if').split(' '),
);

/** Tables and columns a query names, at the token level (works on any text). */
export function nameRefs(sql: string): NameRefs {
  const toks = sqlTokens(sql);
  const aliases = aliasMap(sql);
  const localNames = new Set<string>();
  const tables: string[] = [];
  const columns: NameRefs['columns'] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === 'as' && toks[i + 1] && /^[A-Za-z_"`[]/.test(toks[i + 1]!)) localNames.add(unquote(toks[i + 1]!).toLowerCase());
    if ((t === 'with' || (t === ',' && localNames.size)) && toks[i + 2] === 'as' && toks[i + 3] === '(') localNames.add(unquote(toks[i + 1]!).toLowerCase());
    if (t === 'with' && toks[i + 1] === 'recursive' && toks[i + 2]) localNames.add(unquote(toks[i + 2]!).toLowerCase());
  }
  // CTE column lists: WITH c(x) AS (...)
  for (let i = 0; i + 2 < toks.length; i++) if ((toks[i] === 'with' || toks[i] === 'recursive' || toks[i] === ',') && toks[i + 2] === '(' && /^[a-z_]/.test(toks[i + 1]!)) {
    localNames.add(toks[i + 1]!);
    for (let j = i + 3; j < toks.length && toks[j] !== ')'; j++) if (toks[j] !== ',') localNames.add(unquote(toks[j]!).toLowerCase());
  }
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const prev = toks[i - 1];
    if ((prev === 'from' || prev === 'join' || (prev === ',' && inFromList(toks, i))) && isName(t) && toks[i + 1] !== '(') {
      const name = unquote(t).toLowerCase();
      if (!localNames.has(name)) tables.push(name);
      continue;
    }
    if (!isName(t) || toks[i + 1] === '(' || KEYWORDS.has(t)) continue;
    if (prev === 'as' || (prev !== undefined && isName(prev) && !KEYWORDS.has(prev) && prev !== '.' && !t.startsWith('"'))) continue; // alias position
    if (toks[i + 1] === '.') continue; // qualifier, handled with its column
    const quoted = /^["`[]/.test(t);
    if (prev === '.') {
      const qual = unquote(toks[i - 2] ?? '').toLowerCase();
      columns.push({ table: aliases.get(qual) ?? qual, column: unquote(t).toLowerCase(), quoted });
    } else {
      const name = unquote(t).toLowerCase();
      if (aliases.has(name) || localNames.has(name)) continue;
      columns.push({ table: null, column: name, quoted });
    }
  }
  return { tables, columns, localNames };
}

function inFromList(toks: string[], i: number): boolean {
  for (let j = i - 1; j >= 0; j--) {
    const t = toks[j]!;
    if (t === 'from') return true;
    if (t === '(' || t === ')' || ['select', 'where', 'group', 'order', 'having', 'limit', 'on', 'by'].includes(t)) return false;
  }
  return false;
}

const isName = (t: string) => /^[a-z_][\w$]*$/.test(t) || /^["`[]/.test(t);
const unquote = (t: string) => (/^["`[]/.test(t) ? t.slice(1, -1) : t);

/**
 * Schema names a query uses that the database does not have (seed 004's hallucination check).
 * A double-quoted name that is no column is a string literal in SQLite, not a hallucination.
 */
export function hallucinatedNames(sql: string, schema: Map<string, Set<string>>): string[] {
  const refs = nameRefs(sql);
  const bad = new Set<string>();
  const used = refs.tables.filter((t) => schema.has(t));
  for (const t of refs.tables) if (!schema.has(t)) bad.add(`table ${t}`);
  const inScope = used.length ? used : [...schema.keys()];
  for (const c of refs.columns) {
    if (c.column === '*' || c.column === 'rowid') continue;
    if (c.table) {
      const cols = schema.get(c.table);
      if (cols && !cols.has(c.column)) bad.add(`column ${c.table}.${c.column}`);
      continue;
    }
    if (refs.localNames.has(c.column)) continue;
    const known = inScope.some((t) => schema.get(t)!.has(c.column)) || (!used.length && false);
    if (!known && !c.quoted) bad.add(`column ${c.column}`);
  }
  return [...bad];
}
