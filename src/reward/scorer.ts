// Scores batches of completions: extract SQL, run prediction and (cached) gold in the sandbox pool
// concurrently, check syntax or read the schema only when the design needs it, then apply the design.
// When the sandbox itself fails (a worker died twice, the database is missing) there is nothing to
// score: the result says so (status infra_error / db_missing, `excluded`) instead of a wrong-SQL reward.
import type { SqlExecutor } from '../sql/executor.js';
import { DEFAULT_PREDICTION_BUDGET, executionMatch, type PredictionBudget } from '../sql/match.js';
import { readSchema, schemaNames } from '../sql/schema.js';
import { isInfraFailure, type ExecResult, type InfraKind } from '../sql/types.js';
import type { RewardComponent, RewardContext, Verdict } from './components.js';
import { extractWith, goldForRule, type Extraction } from './extract.js';
import { needs, resolveDesign, scoreContext, type LoadedReward, type RewardConfig, type RewardDesign } from './presets.js';

export interface RewardItem {
  completion: string;
  dbPath: string;
  goldSql: string;
  /**
   * Text the prompt prefilled in the assistant turn (e.g. '<think>\n' after SQL-R1's prompt): the model's
   * response is prefix + completion, and extraction and the format check read that.
   */
  prefix?: string;
}

export interface RewardResult {
  reward: number;
  components: Record<string, number>;
  /** The verdict, or 'no_sql' when nothing could be extracted. */
  status: Verdict;
  /**
   * Set when the infrastructure failed (status infra_error or db_missing): `reward` is 0 but means
   * nothing; leave the completion out of the group's advantage and count it apart. `details.error` says what failed.
   */
  excluded?: true;
  sql: string | null;
  extraction: Extraction;
  pred: ExecResult | null;
  gold: ExecResult | null;
  details: Record<string, unknown>;
}

/** The first infrastructure failure among the executions behind one completion, if any. */
function infraFailure(pred: ExecResult, gold: ExecResult, syntax: Awaited<ReturnType<SqlExecutor['checkSyntax']>> | null): { status: InfraKind; message: string } | null {
  for (const r of [pred, gold]) if (isInfraFailure(r)) return { status: r.kind, message: r.message };
  if (syntax && !syntax.ok && syntax.infra) return { status: syntax.infra, message: syntax.message };
  return null;
}

export class RewardScorer {
  readonly design: RewardDesign;
  private readonly custom: Record<string, RewardComponent>;
  private readonly schemas = new Map<string, Map<string, Set<string>> | null>();

  /** `config`: a preset name, a reward config, or what `loadReward` returned (a config with custom components). */
  constructor(
    private readonly executor: SqlExecutor,
    config: RewardConfig | string | LoadedReward,
    private readonly opts: {
      timeoutMs?: number;
      /** The prediction's time budget relative to its gold's (default DEFAULT_PREDICTION_BUDGET); false: the full timeout. */
      budget?: PredictionBudget | false;
    } = {},
  ) {
    const loaded = typeof config === 'object' && 'custom' in config ? config : null;
    this.custom = loaded?.custom ?? {};
    this.design = resolveDesign(loaded ? loaded.config : (config as RewardConfig | string), this.custom);
  }

  async score(items: RewardItem[]): Promise<RewardResult[]> {
    return Promise.all(items.map((it) => this.scoreOne(it)));
  }

  private schemaOf(dbPath: string): Map<string, Set<string>> | null {
    if (!this.schemas.has(dbPath)) {
      try {
        this.schemas.set(dbPath, schemaNames(readSchema(dbPath, { samples: 0 })));
      } catch {
        this.schemas.set(dbPath, null);
      }
    }
    return this.schemas.get(dbPath)!;
  }

  async scoreOne(item: RewardItem): Promise<RewardResult> {
    const prefix = item.prefix ?? '';
    const response = prefix + item.completion;
    const extraction = extractWith(this.design.extract, response);
    const goldSql = goldForRule(this.design.extract, item.goldSql);
    const need = needs(this.design);
    let verdict: Verdict = 'no_sql';
    let pred: ExecResult | null = null;
    let gold: ExecResult | null = null;
    let syntaxOk: boolean | null = null;
    if (extraction.sql) {
      const [m, syn] = await Promise.all([
        executionMatch(this.executor, {
          dbPath: item.dbPath,
          goldSql,
          predSql: extraction.sql,
          mode: this.design.mode,
          ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}),
          ...(this.opts.budget !== false ? { budget: this.opts.budget ?? DEFAULT_PREDICTION_BUDGET } : {}),
        }),
        need.syntax ? this.executor.checkSyntax(item.dbPath, extraction.sql) : Promise.resolve(null),
      ]);
      verdict = m.verdict;
      pred = m.pred;
      gold = m.gold;
      syntaxOk = syn ? syn.ok : null;
      const infra = infraFailure(m.pred, m.gold, syn);
      if (infra) return { reward: 0, components: {}, status: infra.status, excluded: true, sql: extraction.sql, extraction, pred, gold, details: { error: infra.message } };
    } else if (need.syntax) syntaxOk = false;
    const ctx: RewardContext = {
      completion: item.completion,
      prefix,
      response,
      extraction,
      goldSql,
      verdict,
      pred,
      gold,
      syntaxOk,
      schema: need.schema ? this.schemaOf(item.dbPath) : null,
    };
    const b = await scoreContext(this.design, ctx, this.custom);
    return { reward: b.reward, components: b.components, status: verdict, sql: extraction.sql, extraction, pred, gold, details: b.details };
  }
}
