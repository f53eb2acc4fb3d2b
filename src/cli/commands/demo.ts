// `sqlrl demo`: the end-to-end demo (run/demo.ts).
import { Command } from 'commander';
import { DemoConfig, runDemo } from '../../run/demo.js';
import { addSchemaOptions, resolveOptions } from '../options.js';

export function register(program: Command): void {
  const cmd = program.command('demo').description('Build a small model from scratch, SFT it, then GRPO it on the built-in benchmark; print before/after held-out accuracy.');
  addSchemaOptions(cmd, DemoConfig);
  cmd.action(async () => {
    await runDemo(resolveOptions(cmd, DemoConfig));
  });
}
