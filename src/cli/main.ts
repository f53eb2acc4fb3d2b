// The `sqlrl` command: one subcommand per module in src/cli/commands/.
import { Command, CommanderError } from 'commander';
import { UsageError } from '../errors.js';
import { commands } from './commands/index.js';
import { watchLauncher } from '../signals.js';

export async function main(argv: string[]): Promise<void> {
  // Under `npx sqlrl` a SIGTERM to npm never reaches this process (npm -> sh -> node): stop when npm goes.
  watchLauncher();
  const program = new Command('sqlrl')
    .description('Reinforcement learning for text-to-SQL: sandboxed execution rewards, GRPO, a CPU engine, evaluation.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return;
      process.exitCode = 2; // every commander error is a usage error
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`sqlrl: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
