// Execution match: run gold (cached) and prediction in the sandbox and compare their results under
// one of the compare modes. The single judgement that rewards, training and evaluation share.
import { hasNoStatement, orderMatters, resultsEqual, severalStatementsError, sqlForMode, type CompareMode } from './compare.js';
import type { SqlExecutor } from './executor.js';
import type { ExecResult } from './types.js';

/** `refused`: the sandbox refused the prediction (a write, ATTACH, PRAGMA, ...); `error`: it is not valid SQL here. */
export type MatchVerdict = 'match' | 'mismatch' | 'error' | 'refused' | 'timeout' | 'too_large' | 'gold_error';

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
}

/**
 * Gold failing to run is `gold_error` (the official evaluator asserts; SQL-R1 scores it a match by a
 * bug; we follow the intent: the example cannot be judged and the prediction gets no credit).
 */
export async function executionMatch(executor: SqlExecutor, input: MatchInput): Promise<MatchOutcome> {
  const opts = { exactIntegers: input.mode === 'spider', ...(input.timeoutMs ? { timeoutMs: input.timeoutMs } : {}) };
  const run = (sql: string, gold: boolean): Promise<ExecResult> => {
    const text = sqlForMode(sql, input.mode);
    const several = severalStatementsError(text, input.mode);
    if (several) return Promise.resolve({ kind: 'error', message: several, ms: 0 });
    // The official evaluators run SQL through Python's sqlite3, where a text of comments only is no error but
    // no rows (so it matches an empty gold there); strict mode calls it what it is.
    if (hasNoStatement(text)) return Promise.resolve(input.mode === 'strict' ? { kind: 'error', message: 'no SQL statement (only comments or whitespace)', ms: 0 } : { kind: 'rows', columns: [], rows: [], ms: 0 });
    return gold ? executor.executeGold(input.dbPath, text, opts) : executor.execute(input.dbPath, text, opts);
  };
  const [gold, pred] = await Promise.all([run(input.goldSql, true), run(input.predSql, false)]);
  return { verdict: verdictOf(gold, pred, input.goldSql, input.mode), gold, pred };
}

/** The verdict from two execution results (pure; exported for tests and for callers that batch executions). */
export function verdictOf(gold: ExecResult, pred: ExecResult, goldSql: string, mode: CompareMode): MatchVerdict {
  if (pred.kind === 'error') return pred.refused ? 'refused' : 'error';
  if (pred.kind === 'timeout') return 'timeout';
  if (pred.kind === 'too_large') return 'too_large';
  if (gold.kind !== 'rows') return 'gold_error';
  return resultsEqual(gold.rows, pred.rows, { mode, orderMatters: orderMatters(goldSql, mode), exactIntegers: mode === 'spider' }) ? 'match' : 'mismatch';
}
