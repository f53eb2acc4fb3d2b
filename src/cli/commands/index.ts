// Every `sqlrl` subcommand, registered in this order (one import per command module).
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [];
