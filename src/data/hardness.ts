// Spider hardness (easy / medium / hard / extra) by the rules of the official evaluator
// (taoyds/spider and test-suite-sql-eval, evaluation.py: Evaluator.eval_hardness, count_component1,
// count_component2, count_others, get_nestedSQL, count_agg, has_agg), applied to a parse of the SQL
// with the same shape as process_sql.py's get_sql. Only the structure the counts read is kept:
// the schema is not needed. The quirks are the official ones, kept on purpose (see comments).

export type Hardness = 'easy' | 'medium' | 'hard' | 'extra';

const CLAUSE_KEYWORDS = new Set(['select', 'from', 'where', 'group', 'order', 'limit', 'intersect', 'union', 'except']);
const JOIN_KEYWORDS = new Set(['join', 'on', 'as']);
const WHERE_OPS = new Set(['not', 'between', '=', '>', '<', '>=', '<=', '!=', 'in', 'like', 'is', 'exists']);
const UNIT_OPS = new Set(['-', '+', '*', '/']);
const AGG_OPS = new Set(['max', 'min', 'count', 'sum', 'avg']);
const COND_OPS = new Set(['and', 'or']);
const SQL_OPS = ['intersect', 'union', 'except'] as const;

interface ColUnit {
  agg: boolean;
}
interface ValUnit {
  col1: ColUnit;
  col2: ColUnit | null;
}
/** (not_op, op, val_unit, val1, val2): the values matter only as nested queries. */
interface CondUnit {
  not: boolean;
  op: string;
  val1: SpiderSql | null;
  val2: SpiderSql | null;
}
type Conds = (CondUnit | 'and' | 'or')[];

export interface SpiderSql {
  select: { agg: boolean }[];
  from: { tableUnits: number; conds: Conds };
  where: Conds;
  groupBy: ColUnit[];
  having: Conds;
  orderBy: ValUnit[] | null;
  limit: boolean;
  intersect: SpiderSql | null;
  union: SpiderSql | null;
  except: SpiderSql | null;
}

/** process_sql.tokenize: string literals kept whole, everything else lower-cased, `!=`/`>=`/`<=` joined. */
export function spiderTokens(sql: string): string[] {
  const toks: string[] = [];
  const re = /\s*(?:("(?:[^"]|"")*"|'(?:[^']|'')*')|(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([A-Za-z_][\w$]*(?:\.(?:[A-Za-z_][\w$]*|\*))*|`[^`]*`)|(>=|<=|!=|<>)|(\S))/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(sql)) !== null) {
    if (m[1] !== undefined) toks.push(m[1]);
    else if (m[2] !== undefined) toks.push(m[2]);
    else if (m[3] !== undefined) toks.push(m[3].toLowerCase());
    else if (m[4] !== undefined) toks.push(m[4] === '<>' ? '!=' : m[4]);
    else if (m[5] !== undefined) toks.push(m[5]);
    if (re.lastIndex >= sql.length) break;
  }
  return toks;
}

class Parser {
  constructor(private readonly toks: string[]) {}

  private at(i: number): string {
    return this.toks[i] ?? '';
  }

  private expect(i: number, tok: string): number {
    if (this.at(i) !== tok) throw new Error(`expected '${tok}' at token ${i}, got '${this.at(i) || 'end'}'`);
    return i + 1;
  }

  /** parse_col: one column token (or *). */
  private col(i: number): number {
    if (i >= this.toks.length) throw new Error('column expected, got end of query');
    return i + 1;
  }

  /** parse_col_unit */
  colUnit(i: number): [number, ColUnit] {
    let block = false;
    if (this.at(i) === '(') {
      block = true;
      i++;
    }
    if (AGG_OPS.has(this.at(i))) {
      i = this.expect(i + 1, '(');
      if (this.at(i) === 'distinct') i++;
      i = this.col(i);
      i = this.expect(i, ')');
      return [i, { agg: true }];
    }
    if (this.at(i) === 'distinct') i++;
    i = this.col(i);
    if (block) i = this.expect(i, ')');
    return [i, { agg: false }];
  }

  /** parse_val_unit */
  valUnit(i: number): [number, ValUnit] {
    let block = false;
    if (this.at(i) === '(') {
      block = true;
      i++;
    }
    let col1: ColUnit;
    let col2: ColUnit | null = null;
    [i, col1] = this.colUnit(i);
    if (UNIT_OPS.has(this.at(i))) [i, col2] = this.colUnit(i + 1);
    if (block) i = this.expect(i, ')');
    return [i, { col1, col2 }];
  }

  /** parse_value: a nested query, a literal, or a column. */
  value(i: number): [number, SpiderSql | null] {
    let block = false;
    if (this.at(i) === '(') {
      block = true;
      i++;
    }
    let nested: SpiderSql | null = null;
    const t = this.at(i);
    if (t === 'select') [i, nested] = this.sql(i);
    else if (t.startsWith('"') || t.startsWith("'") || /^-?\d/.test(t)) i++;
    else if (t === '-' && /^\d/.test(this.at(i + 1))) i += 2;
    else {
      let end = i;
      while (end < this.toks.length && ![',', ')', 'and'].includes(this.at(end)) && !CLAUSE_KEYWORDS.has(this.at(end)) && !JOIN_KEYWORDS.has(this.at(end))) end++;
      i = end;
    }
    if (block) i = this.expect(i, ')');
    return [i, nested];
  }

  /** parse_condition */
  condition(i: number): [number, Conds] {
    const conds: Conds = [];
    while (i < this.toks.length) {
      [i] = this.valUnit(i);
      let not = false;
      if (this.at(i) === 'not') {
        not = true;
        i++;
      }
      const op = this.at(i);
      if (!WHERE_OPS.has(op)) throw new Error(`condition operator expected at token ${i}, got '${op || 'end'}'`);
      i++;
      let val1: SpiderSql | null;
      let val2: SpiderSql | null = null;
      if (op === 'between') {
        [i, val1] = this.value(i);
        i = this.expect(i, 'and');
        [i, val2] = this.value(i);
      } else [i, val1] = this.value(i);
      conds.push({ not, op, val1, val2 });
      const t = this.at(i);
      if (i < this.toks.length && (CLAUSE_KEYWORDS.has(t) || t === ')' || t === ';' || JOIN_KEYWORDS.has(t))) break;
      if (COND_OPS.has(t)) {
        conds.push(t as 'and' | 'or');
        i++;
      }
    }
    return [i, conds];
  }

  /** parse_from: table units (tables or subqueries) and the ON conditions, joined by 'and'. */
  from(start: number): [number, SpiderSql['from']] {
    const fromAt = this.toks.indexOf('from', start);
    if (fromAt < 0) throw new Error("'from' not found");
    let i = fromAt + 1;
    let tableUnits = 0;
    const conds: Conds = [];
    while (i < this.toks.length) {
      let block = false;
      if (this.at(i) === '(') {
        block = true;
        i++;
      }
      if (this.at(i) === 'select') {
        [i] = this.sql(i);
      } else {
        if (this.at(i) === 'join' || this.at(i) === ',') i++;
        i = this.at(i + 1) === 'as' ? i + 3 : i + 1;
      }
      tableUnits++;
      if (this.at(i) === 'on') {
        let more: Conds;
        [i, more] = this.condition(i + 1);
        if (conds.length > 0) conds.push('and');
        conds.push(...more);
      }
      if (block) i = this.expect(i, ')');
      const t = this.at(i);
      if (i < this.toks.length && (CLAUSE_KEYWORDS.has(t) || t === ')' || t === ';')) break;
    }
    return [i, { tableUnits, conds }];
  }

  /** parse_select */
  select(i: number): { agg: boolean }[] {
    i = this.expect(i, 'select');
    if (this.at(i) === 'distinct') i++;
    const items: { agg: boolean }[] = [];
    while (i < this.toks.length && !CLAUSE_KEYWORDS.has(this.at(i))) {
      let agg = false;
      if (AGG_OPS.has(this.at(i))) {
        agg = true;
        i++;
      }
      [i] = this.valUnit(i);
      items.push({ agg });
      if (this.at(i) === ',') i++;
    }
    return items;
  }

  /** parse_sql */
  sql(start: number): [number, SpiderSql] {
    let i = start;
    let block = false;
    if (this.at(i) === '(') {
      block = true;
      i++;
    }
    const [fromEnd, from] = this.from(start);
    const select = this.select(i);
    i = fromEnd;
    let where: Conds = [];
    if (this.at(i) === 'where') [i, where] = this.condition(i + 1);
    const groupBy: ColUnit[] = [];
    if (this.at(i) === 'group') {
      i = this.expect(i + 1, 'by');
      while (i < this.toks.length && !(CLAUSE_KEYWORDS.has(this.at(i)) || this.at(i) === ')' || this.at(i) === ';')) {
        let cu: ColUnit;
        [i, cu] = this.colUnit(i);
        groupBy.push(cu);
        if (this.at(i) === ',') i++;
        else break;
      }
    }
    let having: Conds = [];
    if (this.at(i) === 'having') [i, having] = this.condition(i + 1);
    let orderBy: ValUnit[] | null = null;
    if (this.at(i) === 'order') {
      i = this.expect(i + 1, 'by');
      orderBy = [];
      while (i < this.toks.length && !(CLAUSE_KEYWORDS.has(this.at(i)) || this.at(i) === ')' || this.at(i) === ';')) {
        let vu: ValUnit;
        [i, vu] = this.valUnit(i);
        orderBy.push(vu);
        if (this.at(i) === 'asc' || this.at(i) === 'desc') i++;
        if (this.at(i) === ',') i++;
        else break;
      }
    }
    let limit = false;
    if (this.at(i) === 'limit') {
      limit = true;
      i += 2;
    }
    if (this.at(i) === ';') i++;
    if (block) i = this.expect(i, ')');
    if (this.at(i) === ';') i++;
    const out: SpiderSql = { select, from, where, groupBy, having, orderBy, limit, intersect: null, union: null, except: null };
    const op = this.at(i);
    if ((SQL_OPS as readonly string[]).includes(op)) {
      let sub: SpiderSql;
      [i, sub] = this.sql(i + 1);
      out[op as (typeof SQL_OPS)[number]] = sub;
    }
    return [i, out];
  }
}

/** get_sql, reduced to what the hardness counts read. Throws on SQL the official parser would reject. */
export function parseSpiderSql(sql: string): SpiderSql {
  return new Parser(spiderTokens(sql)).sql(0)[1];
}

const condUnits = (c: Conds) => c.filter((x): x is CondUnit => typeof x !== 'string');
const connectors = (c: Conds) => c.filter((x): x is 'and' | 'or' => typeof x === 'string');

/** count_component1: WHERE, GROUP BY, ORDER BY, LIMIT, extra joined tables, ORs, LIKEs. */
export function countComponent1(s: SpiderSql): number {
  let count = 0;
  if (s.where.length > 0) count++;
  if (s.groupBy.length > 0) count++;
  if (s.orderBy) count++;
  if (s.limit) count++;
  if (s.from.tableUnits > 0) count += s.from.tableUnits - 1;
  const all = [...s.from.conds, ...s.where, ...s.having];
  count += connectors(s.from.conds).concat(connectors(s.where), connectors(s.having)).filter((t) => t === 'or').length;
  count += condUnits(all as Conds).filter((c) => c.op === 'like').length;
  return count;
}

/** get_nestedSQL: nested queries in condition values, and the INTERSECT / UNION / EXCEPT part. */
export function nestedSql(s: SpiderSql): SpiderSql[] {
  const nested: SpiderSql[] = [];
  for (const c of condUnits([...s.from.conds, ...s.where, ...s.having])) {
    if (c.val1) nested.push(c.val1);
    if (c.val2) nested.push(c.val2);
  }
  for (const op of SQL_OPS) if (s[op]) nested.push(s[op]!);
  return nested;
}

/** count_component2 */
export function countComponent2(s: SpiderSql): number {
  return nestedSql(s).length;
}

/**
 * count_others. Official quirks kept: count_agg over WHERE/HAVING condition units reads their
 * first field, `not_op`, so a NOT condition counts as an aggregation and `HAVING count(*) > 1`
 * does not; over HAVING it also counts each 'and'/'or' string (its first character is not 0).
 */
export function countOthers(s: SpiderSql): number {
  let count = 0;
  let agg = s.select.filter((u) => u.agg).length;
  agg += condUnits(s.where).filter((c) => c.not).length;
  agg += s.groupBy.filter((u) => u.agg).length;
  if (s.orderBy) agg += s.orderBy.filter((v) => v.col1.agg).length + s.orderBy.filter((v) => v.col2?.agg).length;
  agg += s.having.filter((c) => typeof c === 'string' || c.not).length;
  if (agg > 1) count++;
  if (s.select.length > 1) count++;
  if (s.where.length > 1) count++;
  if (s.groupBy.length > 1) count++;
  return count;
}

/** Evaluator.eval_hardness */
export function hardnessOfParsed(s: SpiderSql): Hardness {
  const c1 = countComponent1(s);
  const c2 = countComponent2(s);
  const others = countOthers(s);
  if (c1 <= 1 && others === 0 && c2 === 0) return 'easy';
  if ((others <= 2 && c1 <= 1 && c2 === 0) || (c1 <= 2 && others < 2 && c2 === 0)) return 'medium';
  if ((others > 2 && c1 <= 2 && c2 === 0) || (c1 > 2 && c1 <= 3 && others <= 2 && c2 === 0) || (c1 <= 1 && others === 0 && c2 <= 1)) return 'hard';
  return 'extra';
}

export function spiderHardness(sql: string): Hardness {
  return hardnessOfParsed(parseSpiderSql(sql));
}
