// Errors every layer may raise. A UsageError is a user mistake: the CLI prints it as one line (exit 2),
// never with a stack trace.
import type { z } from 'zod';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** One line naming each field that failed validation. */
export function formatZodError(err: z.ZodError, where = ''): string {
  const parts = err.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    if (issue.code === 'unrecognized_keys') {
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}${issue.path.length ? ` in ${path}` : ''}`;
    }
    return `${path}: ${issue.message}`;
  });
  return `${where ? `${where}: ` : ''}${parts.join('; ')}`;
}
