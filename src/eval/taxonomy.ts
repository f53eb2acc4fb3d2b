// Error taxonomy of a prediction: why an example was wrong, from its verdict and SQLite's message.

export type ErrorClass =
  | 'correct'
  | 'empty_output'
  | 'syntax_error'
  | 'unknown_table'
  | 'unknown_column'
  | 'other_sql_error'
  | 'wrong_result'
  | 'timeout'
  | 'too_large';

export const ERROR_CLASSES: ErrorClass[] = [
  'correct', 'wrong_result', 'syntax_error', 'unknown_table', 'unknown_column', 'other_sql_error', 'timeout', 'too_large', 'empty_output',
];

/** Classifies one evaluated example. `status` is the verdict (or 'no_sql' when nothing was extracted). */
export function classifyError(status: string, message?: string | null): ErrorClass {
  switch (status) {
    case 'match':
      return 'correct';
    case 'mismatch':
      return 'wrong_result';
    case 'timeout':
      return 'timeout';
    case 'too_large':
      return 'too_large';
    case 'no_sql':
      return 'empty_output';
  }
  const m = (message ?? '').toLowerCase();
  if (/no such table|no such view/.test(m)) return 'unknown_table';
  if (/no such column|ambiguous column name/.test(m)) return 'unknown_column';
  if (/syntax error|incomplete input|unrecognized token|unterminated|you can only execute one statement|more than one statement/.test(m)) return 'syntax_error';
  return 'other_sql_error';
}
