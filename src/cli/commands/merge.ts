// `sqlrl merge`: fold a LoRA adapter into its base model and write a full model folder (safetensors +
// config + tokenizer) that the engine and Hugging Face tooling load without PEFT.
import { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { z } from 'zod';
import { addSchemaOptions, resolveOptions } from '../options.js';
import { UsageError } from '../../errors.js';

export const MergeOptions = z.object({
  model: z.string().describe('base model: a Hugging Face folder, a .gguf file, or hf:ORG/NAME'),
  adapter: z.string().describe('PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)'),
  out: z.string().describe('output folder for the merged model (must not exist or be empty)'),
});

export function register(program: Command): void {
  const cmd = program.command('merge').description('Merge a LoRA adapter into its base model and save a full Hugging Face model folder.');
  addSchemaOptions(cmd, MergeOptions);
  cmd.action(async () => {
    const o = resolveOptions(cmd, MergeOptions);
    if (existsSync(o.out) && readdirSync(o.out).length) throw new UsageError(`output folder '${o.out}' is not empty`);
    const { loadModel } = await import('../../engine/io/load.js');
    const { CausalLM } = await import('../../engine/model.js');
    const { loadLora, mergeLora } = await import('../../engine/lora.js');
    const { saveHfModel } = await import('../../engine/io/save.js');
    let loaded;
    try {
      loaded = await loadModel(o.model);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const model = new CausalLM(loaded.config, loaded.weights);
    try {
      loadLora(o.adapter, model);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    mergeLora(model);
    saveHfModel(o.out, model, loaded.tokenizer);
    process.stderr.write(`sqlrl merge: wrote ${o.out}\n`);
  });
}
