// Execution match: run gold (cached) and prediction in the sandbox and compare their results under
// one of the compare modes. The single judgement that rewards, training and evaluation share.
import { hasNoStatement, orderMatters, resultsEqual, severalStatementsError, sqlForMode, type CompareMode } from './compare.js';
import type { SqlExecutor } from './executor.js';
import type { ExecResult } from './types.js';

/**
 * `refused`: the sandbox refused the prediction (a write, ATTACH, PRAGMA, ...); `error`: it is not valid SQL
 * here. `infra_error` and `db_missing` are not judgements of the prediction: the sandbox could not run it (a
 * worker failed twice, the database file is missing or unreadable). Rewards leave them out.
 */
export type MatchVerdict = 'match' | 'mismatch' | 'error' | 'refused' | 'timeout' | 'too_large' | 'gold_error' | 'infra_error' | 'db_missing';

export interface MatchOutcome {
  verdict: MatchVerdict;
  gold: ExecResult;
  pred: ExecResult;
}

export interface MatchInput {
  dbPath: string;
  goldSql: string;
  predSql: string;
  mode: CompareMode;
  timeoutMs?: number;
  /**
   * Give the prediction a time budget relative to the gold's measured time (see predictionBudgetMs), so a
   * runaway is cut in about a second rather than at the full timeout. The gold then runs first.
   */
  budget?: PredictionBudget;
}

export interface PredictionBudget {
  /** The least time a prediction gets, in ms (fast golds are timed with noise). */
  floorMs: number;
  /** A prediction may take this many times the gold's time. */
  factor: number;
}

/** The training-reward default: at least 1 s, else 10 × the gold's time; always capped by the timeout. */
export const DEFAULT_PREDICTION_BUDGET: PredictionBudget = { floorMs: 1000, factor: 10 };

/**
 * A prediction's timeout: max(floor, factor × gold time), capped by the timeout. A gold that did not run
 * (error, timeout) gives no measure, so the floor applies.
 */
export function predictionBudgetMs(gold: ExecResult, budget: PredictionBudget, timeoutMs: number): number {
  const scaled = gold.kind === 'rows' ? budget.factor * gold.ms : 0;
  return Math.min(timeoutMs, Math.max(budget.floorMs, scaled));
}

/**
 * Gold failing to run is `gold_error` (the official evaluator asserts; SQL-R1 scores it a match by a
 * bug; we follow the intent: the example cannot be judged and the prediction gets no credit).
 */
export async function executionMatch(executor: SqlExecutor, input: MatchInput): Promise<MatchOutcome> {
  const opts = { exactIntegers: input.mode === 'spider', ...(input.timeoutMs ? { timeoutMs: input.timeoutMs } : {}) };
  const run = (sql: string, gold: boolean, timeoutMs?: number): Promise<ExecResult> => {
    const text = sqlForMode(sql, input.mode);
    const several = severalStatementsError(text, input.mode);
    if (several) return Promise.resolve({ kind: 'error', message: several, ms: 0 });
    // The official evaluators run SQL through Python's sqlite3, where a text of comments only is no error but
    // no rows (so it matches an empty gold there); strict mode calls it what it is.
    if (hasNoStatement(text)) return Promise.resolve(input.mode === 'strict' ? { kind: 'error', message: 'no SQL statement (only comments or whitespace)', ms: 0 } : { kind: 'rows', columns: [], rows: [], ms: 0 });
    const o = timeoutMs !== undefined ? { ...opts, timeoutMs } : opts;
    return gold ? executor.executeGold(input.dbPath, text, o) : executor.execute(input.dbPath, text, o);
  };
  let gold: ExecResult;
  let pred: ExecResult;
  if (input.budget) {
    // the gold first (cached across a group), then the prediction within a budget relative to the gold's time
    gold = await run(input.goldSql, true);
    pred = await run(input.predSql, false, predictionBudgetMs(gold, input.budget, input.timeoutMs ?? executor.timeoutMs));
  } else [gold, pred] = await Promise.all([run(input.goldSql, true), run(input.predSql, false)]);
  return { verdict: verdictOf(gold, pred, input.goldSql, input.mode), gold, pred };
}

/** The verdict from two execution results (pure; exported for tests and for callers that batch executions). */
export function verdictOf(gold: ExecResult, pred: ExecResult, goldSql: string, mode: CompareMode): MatchVerdict {
  // The infrastructure first: a failure on either side means nothing was judged.
  if (pred.kind === 'infra_error' || gold.kind === 'infra_error') return 'infra_error';
  if (pred.kind === 'db_missing' || gold.kind === 'db_missing') return 'db_missing';
  if (pred.kind === 'error') return pred.refused ? 'refused' : 'error';
  if (pred.kind === 'timeout') return 'timeout';
  if (pred.kind === 'too_large') return 'too_large';
  if (gold.kind !== 'rows') return 'gold_error';
  return resultsEqual(gold.rows, pred.rows, { mode, orderMatters: orderMatters(goldSql, mode), exactIntegers: mode === 'spider' }) ? 'match' : 'mismatch';
}
