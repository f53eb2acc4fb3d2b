// Result comparison: is the prediction's result the gold's result? Three modes:
//  - spider: the official test-suite execution evaluator (taoyds/test-suite-sql-eval, exec_eval.py:
//    postprocess, remove_distinct, replace_cur_year, result_eq with quick_rej, multiset_eq and
//    get_constraint_permutation), reproduced with Python's value semantics;
//  - bird: the BIRD evaluator (set(predicted) == set(gold), no column permutation);
//  - strict: training default; keeps DISTINCT, whole text, ORDER BY judged from the parsed gold.
// Rules and where they come from: docs/compare-modes.md.
import type { SqlValue } from './types.js';

export type CompareMode = 'spider' | 'bird' | 'strict';
export const COMPARE_MODES: CompareMode[] = ['spider', 'bird', 'strict'];

// ---------------------------------------------------------------- Python value semantics

/** Python's repr of a float (float_repr_style 'short'): 1.0, 0.1, 1e-05, 1e+16, inf, nan. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let body: string;
  if (exp >= -5 + 1 && exp < 16) {
    // fixed notation (Python uses it for -4 <= exp < 16)
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      const frac = digits.slice(exp + 1);
      body = `${intPart}.${frac || '0'}`;
    } else {
      body = `0.${'0'.repeat(-exp - 1)}${digits}`;
    }
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return neg ? `-${body}` : body;
}

function pyBytesRepr(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0x5c) s += '\\\\';
    else if (c === 0x27) s += "\\'";
    else if (c === 0x09) s += '\\t';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `b'${s}'`;
}

/**
 * `str(x) + str(type(x))`, the official unorder_row sort key. Integers arrive as bigint when the
 * executor ran with exact integers (SQLite INTEGER), floats as number (SQLite REAL); a plain number
 * that is integral is taken for an int.
 */
export function pySortKey(v: SqlValue, numbersAreFloats = false): string {
  if (v === null) return "None<class 'NoneType'>";
  if (typeof v === 'bigint') return `${v}<class 'int'>`;
  if (typeof v === 'number') {
    const int = !numbersAreFloats && Number.isInteger(v) && Math.abs(v) < 2 ** 53;
    return int ? `${v}<class 'int'>` : `${pyFloatRepr(v)}<class 'float'>`;
  }
  if (typeof v === 'string') return `${v}<class 'str'>`;
  return `${pyBytesRepr(v)}<class 'bytes'>`;
}

/**
 * Hash key with Python equality: 1 == 1.0 == True share a key (ints and integral floats by exact
 * integer value), '1' != 1, None only equals None, bytes never equal str.
 */
export function pyValueKey(v: SqlValue): string {
  if (v === null) return 'N';
  if (typeof v === 'bigint') return `n${v}`;
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return `n${BigInt(v)}`;
    return Number.isNaN(v) ? `nan${Math.random()}` /* nan != nan */ : `f${v}`;
  }
  if (typeof v === 'string') return `s${v}`;
  return `b${Buffer.from(v).toString('hex')}`;
}

/** Like pyValueKey but numbers equal to 12 significant digits share a key (strict mode's float tolerance). */
function tolerantValueKey(v: SqlValue): string {
  if (typeof v === 'number' && !Number.isInteger(v) && Number.isFinite(v)) {
    const r = Number(v.toPrecision(12));
    return Number.isInteger(r) ? `n${BigInt(r)}` : `f${r}`;
  }
  return pyValueKey(v);
}

type KeyFn = (v: SqlValue) => string;
const rowKey = (row: SqlValue[], key: KeyFn) => row.map(key).join('\u0001');

// ---------------------------------------------------------------- exec_eval.py, function by function

/** unorder_row: the row's values sorted by str(x) + str(type(x)). */
export function unorderRow(row: SqlValue[], numbersAreFloats = false): SqlValue[] {
  return row
    .map((v) => ({ v, k: pySortKey(v, numbersAreFloats) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.v);
}

/** quick_rej: the bags of unordered rows must agree (as lists when order matters, as sets otherwise). Returns true when NOT rejected. */
export function quickRej(r1: SqlValue[][], r2: SqlValue[][], orderMatters: boolean, key: KeyFn = pyValueKey, numbersAreFloats = false): boolean {
  const s1 = r1.map((r) => rowKey(unorderRow(r, numbersAreFloats), key));
  const s2 = r2.map((r) => rowKey(unorderRow(r, numbersAreFloats), key));
  if (orderMatters) return s1.length === s2.length && s1.every((k, i) => k === s2[i]);
  return sameSet(s1, s2);
}

function sameSet(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  if (sa.size !== sb.size) return false;
  for (const k of sa) if (!sb.has(k)) return false;
  return true;
}

/** multiset_eq: same elements with the same multiplicities. */
export function multisetEq(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const d = new Map<string, number>();
  for (const k of a) d.set(k, (d.get(k) ?? 0) + 1);
  for (const k of b) {
    const c = (d.get(k) ?? 0) - 1;
    if (c < 0) return false;
    d.set(k, c);
  }
  return true;
}

/**
 * Column permutations worth trying: perm[i] is the prediction column placed at gold column i. The
 * official code prunes (for > 3 columns) with 20 random prediction rows; pruning only removes
 * permutations that cannot succeed, so pruning with every row gives the same verdict, deterministically.
 */
export function* constraintPermutations(r1: SqlValue[][], r2: SqlValue[][], key: KeyFn): Generator<number[]> {
  const n = r2[0]!.length;
  const allowed: Set<number>[] = Array.from({ length: n }, () => new Set(Array.from({ length: n }, (_, j) => j)));
  if (n > 3) {
    const colSets = Array.from({ length: n }, (_, i) => new Set(r1.map((row) => key(row[i]!))));
    for (const row of r2) {
      for (let i = 0; i < n; i++) for (const j of [...allowed[i]!]) if (!colSets[i]!.has(key(row[j]!))) allowed[i]!.delete(j);
    }
  }
  const perm: number[] = [];
  const used = new Set<number>();
  function* rec(i: number): Generator<number[]> {
    if (i === n) {
      yield [...perm];
      return;
    }
    for (const j of [...allowed[i]!].sort((a, b) => a - b)) {
      if (used.has(j)) continue;
      used.add(j);
      perm.push(j);
      yield* rec(i + 1);
      perm.pop();
      used.delete(j);
    }
  }
  yield* rec(0);
}

/** result_eq: equal up to a column permutation, as ordered lists or as multisets of rows. */
export function resultEq(r1: SqlValue[][], r2: SqlValue[][], orderMatters: boolean, key: KeyFn = pyValueKey, numbersAreFloats = false): boolean {
  if (r1.length === 0 && r2.length === 0) return true;
  if (r1.length !== r2.length) return false;
  const n = r1[0]!.length;
  if (r2[0]!.length !== n) return false;
  if (!quickRej(r1, r2, orderMatters, key, numbersAreFloats)) return false;
  const k1 = r1.map((r) => rowKey(r, key));
  for (const perm of constraintPermutations(r1, r2, key)) {
    const k2 = r2.map((row) => rowKey(perm.map((j) => row[j]!), key));
    if (orderMatters) {
      if (k1.every((k, i) => k === k2[i])) return true;
    } else if (sameSet(k1, k2) && multisetEq(k1, k2)) return true;
  }
  return false;
}

// ---------------------------------------------------------------- SQL text as each evaluator runs it

interface Segment {
  text: string;
  /** Inside a string literal, quoted identifier or comment. */
  opaque: boolean;
}

/** Splits SQL into code and opaque segments (quotes, comments), stopping after the first top-level ';' when asked. */
export function segments(sql: string, firstStatementOnly = false): Segment[] {
  const out: Segment[] = [];
  let code = '';
  let i = 0;
  const flush = () => {
    if (code) out.push({ text: code, opaque: false });
    code = '';
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const close = c === "'" || c === '"' || c === '`' ? c : c === '[' ? ']' : null;
    if (close) {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === close) {
          if (close !== ']' && sql[j + 1] === close) j += 2;
          else break;
        } else j++;
      }
      flush();
      out.push({ text: sql.slice(i, j + 1), opaque: true });
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl < 0 ? sql.length : nl;
      flush();
      out.push({ text: sql.slice(i, end), opaque: true });
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const e = sql.indexOf('*/', i + 2);
      const end = e < 0 ? sql.length : e + 2;
      flush();
      out.push({ text: sql.slice(i, end), opaque: true });
      i = end;
    } else if (c === ';' && firstStatementOnly) {
      code += c;
      break;
    } else {
      code += c;
      i++;
    }
  }
  flush();
  return out;
}

/** postprocess: `> =`, `< =`, `! =` joined (exec_eval.py). */
export function spiderPostprocess(sql: string): string {
  return sql.replace(/> =/g, '>=').replace(/< =/g, '<=').replace(/! =/g, '!=');
}

/** remove_distinct: the first statement (sqlparse.parse(s)[0]) with every DISTINCT keyword token dropped. */
export function removeDistinct(sql: string): string {
  // sqlparse drops leading whitespace/comments of the first statement only in trivial ways; keep the text as is.
  return segments(sql, true)
    .map((s) => (s.opaque ? s.text : s.text.replace(/(?<![\w$.])distinct(?![\w$])/gi, '')))
    .join('');
}

/** replace_cur_year: YEAR(CURDATE()) becomes 2020 (exec_eval.py). */
export function replaceCurYear(sql: string): string {
  return sql.replace(/YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*/gi, '2020');
}

/** The text each mode executes (spider: the official rewrites of the first statement; bird: as written; strict: trimmed, trailing ';' dropped). */
export function sqlForMode(sql: string, mode: CompareMode): string {
  if (mode === 'spider') return replaceCurYear(removeDistinct(spiderPostprocess(sql)));
  if (mode === 'bird') return sql;
  return sql.trim().replace(/(\s*;)+$/, '');
}

/**
 * Python's sqlite3 `execute()` rule, which the BIRD evaluator meets by running the prediction as
 * written: after the first statement's ';' only whitespace and comments may follow (a second ';' is
 * a second, empty, statement). Leading ';' before the first statement are skipped, as SQLite does.
 */
export function hasSecondStatement(sql: string): boolean {
  let started = false;
  let ended = false;
  for (const s of segments(sql)) {
    const comment = s.opaque && (s.text.startsWith('--') || s.text.startsWith('/*'));
    if (comment) continue;
    if (s.opaque) {
      if (ended) return true;
      started = true;
      continue;
    }
    for (const c of s.text) {
      if (/\s/.test(c)) continue;
      if (ended) return true;
      if (c === ';') {
        if (started) ended = true;
      } else started = true;
    }
  }
  return false;
}

/** Only whitespace, comments and ';': Python's sqlite3 executes such text to no rows (better-sqlite3 refuses it). */
export function hasNoStatement(sql: string): boolean {
  return segments(sql).every((s) => (s.opaque ? s.text.startsWith('--') || s.text.startsWith('/*') : /^[\s;]*$/.test(s.text)));
}

/** What a mode does with several statements: spider runs the first (sqlparse.parse(s)[0]); bird and strict refuse them. */
export function severalStatementsError(sql: string, mode: CompareMode): string | null {
  if (mode === 'spider' || !hasSecondStatement(sql)) return null;
  return 'more than one statement (only a single query is allowed; Python\'s sqlite3, which the BIRD evaluator uses, refuses them too)';
}

/** Whether row order counts, decided from the gold query. */
export function orderMatters(goldSql: string, mode: CompareMode): boolean {
  if (mode === 'bird') return false;
  if (mode === 'spider') return removeDistinct(spiderPostprocess(goldSql)).toLowerCase().includes('order by');
  return hasTopLevelOrderBy(goldSql);
}

/** ORDER BY of the outermost query (not inside parentheses, strings or comments). */
export function hasTopLevelOrderBy(sql: string): boolean {
  let depth = 0;
  let top = '';
  for (const s of segments(sql)) {
    if (s.opaque) {
      if (depth === 0) top += ' ';
      continue;
    }
    for (const c of s.text) {
      if (c === '(') depth++;
      else if (c === ')') depth = Math.max(0, depth - 1);
      else if (depth === 0) top += c;
    }
  }
  return /\border\s+by\b/i.test(top);
}

// ---------------------------------------------------------------- the comparison

/**
 * Does the prediction's result equal the gold's under `mode`? `exactIntegers`: the rows came from the
 * executor with exactIntegers (INTEGER as bigint), so every plain number is a REAL (a Python float).
 */
export function resultsEqual(gold: SqlValue[][], pred: SqlValue[][], opts: { mode: CompareMode; orderMatters: boolean; exactIntegers?: boolean }): boolean {
  switch (opts.mode) {
    case 'spider':
      return resultEq(gold, pred, opts.orderMatters, pyValueKey, opts.exactIntegers ?? false);
    case 'strict':
      return resultEq(gold, pred, opts.orderMatters, tolerantValueKey);
    case 'bird':
      return sameSet(
        gold.map((r) => rowKey(r, pyValueKey)),
        pred.map((r) => rowKey(r, pyValueKey)),
      );
  }
}
