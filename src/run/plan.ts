// Cross-field checks of a run's configuration, before anything is written: each either refuses with one
// line naming the fix (UsageError, exit 2) or makes a stated adjustment that the run logs. They catch
// runs that would train for hours and learn nothing: a prompt whose answer format the reward cannot
// read, a KL term against a reference that is the policy itself, prompts cut short, a missing split.
import { targetText, templatePrefill, type PromptTemplate } from '../data/prompt.js';
import { UsageError } from '../errors.js';
import type { RewardComponent, RewardContext } from '../reward/components.js';
import { extractionMismatch, extractWith, goldForRule } from '../reward/extract.js';
import { scoreContext, type RewardDesign } from '../reward/presets.js';
import type { RowsResult } from '../sql/types.js';

export const TEMPLATES: PromptTemplate[] = ['plain', 'think', 'compact'];

/** The reward of a completion that follows `template` exactly (after its prefill), when its result matches or not. */
async function idealScores(design: RewardDesign, template: PromptTemplate, custom: Record<string, RewardComponent>): Promise<{ match: number; mismatch: number }> {
  const sql = 'SELECT name FROM singer';
  const response = targetText(sql, template);
  const prefix = templatePrefill(template);
  const extraction = extractWith(design.extract, response);
  const rows = (v: number): RowsResult => ({ kind: 'rows', columns: ['name'], rows: [[v]], ms: 0 });
  const ctx = (verdict: 'match' | 'mismatch'): RewardContext => ({
    completion: response.slice(prefix.length),
    prefix,
    response,
    extraction,
    goldSql: goldForRule(design.extract, sql),
    verdict: extraction.sql ? verdict : 'no_sql',
    pred: extraction.sql ? rows(verdict === 'match' ? 1 : 2) : null,
    gold: rows(1),
    syntaxOk: extraction.sql !== null,
    schema: new Map([['singer', new Set(['name'])]]),
  });
  return { match: (await scoreContext(design, ctx('match'), custom)).reward, mismatch: (await scoreContext(design, ctx('mismatch'), custom)).reward };
}

/** The reward tells a right answer from a wrong one when the model writes what the template asks. */
export async function rewardReadsTemplate(design: RewardDesign, template: PromptTemplate, custom: Record<string, RewardComponent> = {}): Promise<boolean> {
  if (extractionMismatch(design.extract, template)) return false;
  const s = await idealScores(design, template, custom);
  return s.match > s.mismatch;
}

export interface Adjustment {
  field: string;
  message: string;
}

/** The prompt template: the one given (checked against the reward), or the first the reward reads. */
export async function resolveTemplate(design: RewardDesign, template: PromptTemplate | undefined, rewardFlag: string, custom: Record<string, RewardComponent> = {}): Promise<{ template: PromptTemplate; adjustment: Adjustment | null }> {
  const readable: PromptTemplate[] = [];
  for (const t of TEMPLATES) if (await rewardReadsTemplate(design, t, custom)) readable.push(t);
  if (template) {
    if (!readable.includes(template)) {
      const why = extractionMismatch(design.extract, template);
      throw new UsageError(
        `--template ${template} asks for answers that reward '${design.name}' cannot score (${why ?? 'a correct answer would get no more than a wrong one'}, so nothing is learned): ` +
          (readable.length ? `use --template ${readable.join(' or ')}${template === 'compact' ? ', or --reward-extract lenient' : ''}, or another --reward` : `reward '${rewardFlag}' scores no template's answers; check its components`),
      );
    }
    return { template, adjustment: null };
  }
  const t = readable[0];
  if (!t) throw new UsageError(`reward '${rewardFlag}' cannot score the answers of any prompt template (${TEMPLATES.join(', ')}); check its components`);
  return { template: t, adjustment: { field: 'template', message: `--template ${t} (the format reward '${design.name}' scores)` } };
}

/** The held-out split: the one given, or the dataset's own. */
export function resolveEvalSplit(dataset: string, split: string, evalSplit: string | undefined): { evalSplit: string; adjustment: Adjustment | null } {
  if (evalSplit) return { evalSplit, adjustment: null };
  if (dataset === 'builtin') return { evalSplit: 'heldout', adjustment: null };
  if (dataset === 'spider' || dataset === 'bird') return { evalSplit: 'dev', adjustment: { field: 'evalSplit', message: `--eval-split dev (${dataset}'s held-out split)` } };
  return { evalSplit: split, adjustment: { field: 'evalSplit', message: `no held-out split for --dataset ${dataset}: evaluating on the training file itself (pass --eval-split or set --eval-every 0)` } };
}

/** KL to a reference: under full training the reference is a frozen copy of the initial weights. */
export function referencePolicy(beta: number, train: 'lora' | 'full'): { frozenCopy: boolean; adjustment: Adjustment | null } {
  if (beta <= 0) return { frozenCopy: false, adjustment: null };
  if (train === 'full') return { frozenCopy: true, adjustment: { field: 'beta', message: `--beta ${beta} with --train full: the reference policy is a frozen copy of the initial weights (one more copy of the model in memory)` } };
  return { frozenCopy: false, adjustment: null };
}
