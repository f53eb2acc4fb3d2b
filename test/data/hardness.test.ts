// Spider hardness: our parser + the official counting rules agree with the official evaluator on every dev example.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countComponent1, countComponent2, countOthers, parseSpiderSql, spiderHardness } from '../../src/data/hardness.js';
import { SPIDER_DIR, NO_SPIDER } from '../helpers/paths.js';

// The official rules (evaluation.py) transcribed over dev.json's own `sql` field, which is process_sql.get_sql's
// output: an independent reference for the per-example check.
type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const hasAgg = (u: Any) => Number(u[0]) !== 0; // Python: False != 0 is False
const countAgg = (units: Any[]) => units.filter(hasAgg).length;
function officialHardness(sql: Any): string {
  const c1 = (() => {
    let c = 0;
    if (sql.where.length > 0) c++;
    if (sql.groupBy.length > 0) c++;
    if (sql.orderBy.length > 0) c++;
    if (sql.limit !== null) c++;
    if (sql.from.table_units.length > 0) c += sql.from.table_units.length - 1;
    const odd = (a: Any[]) => a.filter((_: Any, i: number) => i % 2 === 1);
    const even = (a: Any[]) => a.filter((_: Any, i: number) => i % 2 === 0);
    c += [...odd(sql.from.conds), ...odd(sql.where), ...odd(sql.having)].filter((t) => t === 'or').length;
    c += [...even(sql.from.conds), ...even(sql.where), ...even(sql.having)].filter((u) => u[1] === 9).length; // WHERE_OPS.index('like')
    return c;
  })();
  const nested = (() => {
    const even = (a: Any[]) => a.filter((_: Any, i: number) => i % 2 === 0);
    let n = 0;
    for (const u of [...even(sql.from.conds), ...even(sql.where), ...even(sql.having)]) {
      if (u[3] && typeof u[3] === 'object' && !Array.isArray(u[3])) n++;
      if (u[4] && typeof u[4] === 'object' && !Array.isArray(u[4])) n++;
    }
    for (const op of ['intersect', 'except', 'union']) if (sql[op]) n++;
    return n;
  })();
  const others = (() => {
    let c = 0;
    const even = (a: Any[]) => a.filter((_: Any, i: number) => i % 2 === 0);
    let agg = countAgg(sql.select[1]) + countAgg(even(sql.where)) + countAgg(sql.groupBy);
    if (sql.orderBy.length > 0) agg += countAgg([...sql.orderBy[1].filter((u: Any) => u[1]).map((u: Any) => u[1]), ...sql.orderBy[1].filter((u: Any) => u[2]).map((u: Any) => u[2])]);
    agg += sql.having.filter((u: Any) => (typeof u === 'string' ? true : u[0] !== false && u[0] !== 0)).length;
    if (agg > 1) c++;
    if (sql.select[1].length > 1) c++;
    if (sql.where.length > 1) c++;
    if (sql.groupBy.length > 1) c++;
    return c;
  })();
  if (c1 <= 1 && others === 0 && nested === 0) return 'easy';
  if ((others <= 2 && c1 <= 1 && nested === 0) || (c1 <= 2 && others < 2 && nested === 0)) return 'medium';
  if ((others > 2 && c1 <= 2 && nested === 0) || (2 < c1 && c1 <= 3 && others <= 2 && nested === 0) || (c1 <= 1 && others === 0 && nested <= 1)) return 'hard';
  return 'extra';
}

test('Spider dev: 248 easy, 446 medium, 174 hard, 166 extra, and each example agrees with the rules applied to the official parse', { skip: NO_SPIDER }, () => {
  const dev = JSON.parse(readFileSync(join(SPIDER_DIR, 'dev.json'), 'utf8')) as { query: string; sql: Any }[];
  const counts: Record<string, number> = {};
  const disagreements: string[] = [];
  for (const ex of dev) {
    const ours = spiderHardness(ex.query);
    counts[ours] = (counts[ours] ?? 0) + 1;
    const ref = officialHardness(ex.sql);
    if (ours !== ref) disagreements.push(`${ex.query} -> ours ${ours}, official parse ${ref}`);
  }
  assert.deepEqual(counts, { easy: 248, medium: 446, hard: 174, extra: 166 });
  assert.deepEqual(disagreements, []);
});

test('rules, one by one', () => {
  assert.equal(spiderHardness('SELECT count(*) FROM singer'), 'easy');
  assert.equal(spiderHardness('SELECT name FROM singer WHERE age > 20'), 'easy', 'one component1, nothing else');
  assert.equal(spiderHardness('SELECT name, age FROM singer'), 'medium', 'two select columns is one "other"');
  assert.equal(spiderHardness('SELECT name FROM singer WHERE age > 20 ORDER BY age LIMIT 1'), 'hard', 'three component1');
  assert.equal(spiderHardness('SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert)'), 'hard', 'one nested with one component1');
  assert.equal(spiderHardness('SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert) ORDER BY age'), 'extra', 'nested + two component1');
  assert.equal(spiderHardness('SELECT name FROM singer INTERSECT SELECT name FROM actor'), 'hard', 'one nested, nothing else');
  // quirk: a NOT condition counts as an aggregation in count_others
  const notIn = parseSpiderSql('SELECT name FROM a WHERE x NOT IN (SELECT y FROM b)');
  assert.equal(countOthers(notIn), 0);
  assert.equal(countOthers(parseSpiderSql('SELECT count(*) FROM a WHERE x NOT LIKE "%b%"')), 1, 'count + NOT is two aggregations');
  // quirk: HAVING count(*) > 1 is not an aggregation, but each and/or in HAVING is
  assert.equal(countOthers(parseSpiderSql('SELECT a FROM t GROUP BY a HAVING count(*) > 1')), 0);
  assert.equal(countOthers(parseSpiderSql('SELECT a FROM t GROUP BY a HAVING count(*) > 1 AND sum(b) > 2 AND max(c) > 3')), 1);
  // OR and LIKE add to component1; joined tables add (n - 1)
  assert.equal(countComponent1(parseSpiderSql("SELECT a FROM t WHERE b = 1 OR c LIKE '%x%'")), 3);
  assert.equal(countComponent1(parseSpiderSql('SELECT T1.a FROM t AS T1 JOIN u AS T2 ON T1.id = T2.id JOIN v AS T3 ON T2.id = T3.id')), 2);
  assert.equal(countComponent2(parseSpiderSql('SELECT a FROM t WHERE b BETWEEN (SELECT min(b) FROM t) AND (SELECT avg(b) FROM t)')), 2);
});
