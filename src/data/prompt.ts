// Prompts, shared by training and evaluation: the database schema as OmniSQL writes it (CREATE TABLE
// with example values and keys) or in a compact one-line-per-table form (small models), and the
// question in a template: 'plain' (OmniSQL's, answer in a ```sql block) or 'think' (SQL-R1's
// <think>/<answer> format). Returns chat messages; tokenization is the model's business.
import { readSchema, type DbSchema } from '../sql/schema.js';
import type { Example } from './types.js';

export type PromptTemplate = 'plain' | 'think' | 'compact';

export interface PromptOptions {
  template: PromptTemplate;
  /** Example values per column (OmniSQL uses 2 for eval sets). */
  samples?: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const RESERVED = new Set(['order', 'group', 'select', 'from', 'where', 'table', 'index', 'key', 'primary', 'references', 'limit', 'by', 'as', 'on', 'join', 'union', 'values', 'default', 'check']);
const ident = (s: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !RESERVED.has(s.toLowerCase()) ? s : `\`${s.replace(/`/g, '``')}\``);
const value = (v: string) => (v.length > 40 ? `${v.slice(0, 40)}` : v);

/** OmniSQL's db_details: CREATE TABLE blocks with `-- example: [...]` per column, primary and foreign keys. */
export function schemaDdl(schema: DbSchema, samples = 2): string {
  return schema.tables
    .map((t) => {
      const lines = t.columns.map((c) => `    ${ident(c.name)} ${c.type || 'TEXT'},${samples > 0 && c.samples.length ? ` -- example: [${c.samples.slice(0, samples).map(value).join(', ')}]` : ''}`);
      const pk = t.columns.filter((c) => c.pk).map((c) => ident(c.name));
      if (pk.length) lines.push(`    PRIMARY KEY (${pk.join(', ')}),`);
      for (const fk of t.foreignKeys) lines.push(`    CONSTRAINT fk_${t.name}_${fk.column} FOREIGN KEY (${ident(fk.column)}) REFERENCES ${ident(fk.refTable)} (${ident(fk.refColumn)}),`);
      const last = lines.length - 1;
      lines[last] = lines[last]!.replace(/,( -- |$)/, '$1');
      return `CREATE TABLE ${ident(t.name)} (\n${lines.join('\n')}\n);`;
    })
    .join('\n\n');
}

/** One line per table: `table(col, col, ...)`, foreign keys as `a.x = b.y` (short prompts for small models). */
export function schemaCompact(schema: DbSchema): string {
  const lines = schema.tables.map((t) => `${t.name}(${t.columns.map((c) => c.name).join(', ')})`);
  const fks = schema.tables.flatMap((t) => t.foreignKeys.map((f) => `${t.name}.${f.column} = ${f.refTable}.${f.refColumn}`));
  return lines.join('\n') + (fks.length ? `\n${fks.join('\n')}` : '');
}

const OMNISQL = (schema: string, question: string, extra: string[]) =>
  `Task Overview:
You are a data science expert. Below, you are provided with a database schema and a natural language question. Your task is to understand the schema and generate a valid SQL query to answer the question.

Database Engine:
SQLite

Database Schema:
${schema}
This schema describes the database's structure, including tables, columns, primary keys, foreign keys, and any relevant relationships or constraints.

Question:
${question}

Instructions:
- Make sure you only output the information that is asked in the question. If the question asks for a specific column, make sure to only include that column in the SELECT clause, nothing more.
- The generated query should return all of the information asked in the question without any missing or extra information.
- Before generating the final SQL query, please think through the steps of how to write the query.
${extra.map((e) => `- ${e}\n`).join('')}
Output Format:
In your answer, please enclose the generated SQL query in a code block:
\`\`\`sql
-- Your SQL query
\`\`\`

Take a deep breath and think step by step to find the correct SQL query.`;

export function promptMessages(example: Example, opts: PromptOptions, schema: DbSchema = readSchema(example.dbPath, { samples: opts.samples ?? 2 })): ChatMessage[] {
  const question = example.evidence ? `${example.evidence}\n${example.question}` : example.question;
  switch (opts.template) {
    case 'compact':
      // Every line a SQL comment, evidence included, so the prompt reads as one SQL script.
      return [{ role: 'user', content: `${schemaCompact(schema)}\n${question.split('\n').map((l) => `-- ${l}`).join('\n')}` }];
    case 'plain':
      return [{ role: 'user', content: OMNISQL(schemaDdl(schema, opts.samples ?? 2), question, []) }];
    case 'think':
      return [
        {
          role: 'user',
          content: OMNISQL(schemaDdl(schema, opts.samples ?? 2), question, [
            'The reasoning process and SQL query need to be enclosed within <think> </think> and <answer> </answer> tags respectively, i.e., <think> reasoning process here </think> <answer> final SQL query here </answer>.',
            'The answer must contain the SQL query within ```sql ``` tags.',
          ]),
        },
      ];
  }
}

/**
 * The text a template prefills in the assistant turn: a generation prompt ends with it (after the chat
 * template's assistant header), so the model continues from inside it and never writes it itself;
 * rewards and extraction read prefill + completion. 'think' prefills '<think>\n', as SQL-R1's prompt does
 * (its training prompt ends `<|im_start|>assistant\n<think>\n`, and its reward reads the response from
 * the assistant header on): the model starts reasoning at once, and the one <think> the format check
 * counts is the prompt's. 'plain' and 'compact' prefill nothing.
 */
export function templatePrefill(template: PromptTemplate): string {
  return template === 'think' ? '<think>\n' : '';
}

/**
 * The whole assistant turn a template expects for a gold SQL (SFT targets). It starts with the template's
 * prefill; a trainer whose prompt ends with the prefill trains on the rest (`slice(templatePrefill(t).length)`).
 */
export function targetText(sql: string, template: PromptTemplate): string {
  switch (template) {
    case 'compact':
      return sql;
    case 'plain':
      return `\`\`\`sql\n${sql}\n\`\`\``;
    case 'think':
      return `<think>\nThe question asks for this; the schema gives the tables and columns to use.\n</think>\n<answer>\n\`\`\`sql\n${sql}\n\`\`\`\n</answer>`;
  }
}

/** SQL out of a completion in the 'compact' template: the text itself up to the end of the first line block. */
export function compactSql(completion: string): string | null {
  const s = completion.trim();
  return s ? s : null;
}
