// `sqlrl train` (GRPO) and `sqlrl sft`: flags and YAML into one configuration, then run/ does the rest.
import { Command } from 'commander';
import { SftConfig, TrainConfig } from '../../run/config.js';
import { runSft, runTrain } from '../../run/train.js';
import { addSchemaOptions, resolveOptions } from '../options.js';

export function register(program: Command): void {
  const train = program.command('train').description('GRPO training of a model on text-to-SQL with sandboxed execution rewards.');
  addSchemaOptions(train, TrainConfig);
  train.action(async () => {
    const r = await runTrain(resolveOptions(train, TrainConfig));
    if (r.stopped) process.exitCode = 130;
  });
  const sft = program.command('sft').description('Supervised fine-tuning (LoRA or full) on question → gold SQL pairs.');
  addSchemaOptions(sft, SftConfig);
  sft.action(async () => {
    const r = await runSft(resolveOptions(sft, SftConfig));
    if (r.stopped) process.exitCode = 130;
  });
}
