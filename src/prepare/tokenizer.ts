// The tokenizer of the model a user will train, for counting prompt tokens the way the trainer will
// (chat template applied, generation prompt opened). Loaded by the engine's own readers, without the
// weights: a Hugging Face folder, a .gguf file (its embedded tokenizer), or hf:ORG/NAME (only the
// tokenizer files are downloaded).
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { Tokenizer } from '../interfaces/policy.js';

export async function loadPromptTokenizer(spec: string): Promise<Tokenizer> {
  try {
    if (spec.startsWith('hf:')) {
      const { downloadHubTokenizer } = await import('../engine/io/hub.js');
      const { loadTokenizerDir } = await import('../engine/io/load.js');
      return loadTokenizerDir(await downloadHubTokenizer(spec.slice(3), { quiet: true }));
    }
    if (!existsSync(spec)) throw new Error(`tokenizer '${spec}' not found (pass a Hugging Face model folder, a .gguf file, or hf:ORG/NAME)`);
    if (statSync(spec).isDirectory()) {
      const { loadTokenizerDir } = await import('../engine/io/load.js');
      return loadTokenizerDir(spec);
    }
    if (spec.endsWith('.gguf')) {
      const { GgufFile } = await import('../engine/io/gguf.js');
      const { ChatTokenizer, tokenizerSpecFromGguf } = await import('../engine/tokenizer.js');
      const g = new GgufFile(spec);
      try {
        return new ChatTokenizer(tokenizerSpecFromGguf(g));
      } finally {
        g.close();
      }
    }
    throw new Error(`tokenizer '${spec}' is neither a folder nor a .gguf file (or hf:ORG/NAME)`);
  } catch (err) {
    throw new UsageError(`--tokenizer: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Prompt length in tokens as the trainer sees it: the chat template applied with the assistant turn opened. */
export function promptTokens(tokenizer: Tokenizer, messages: { role: 'system' | 'user' | 'assistant'; content: string }[]): number {
  return tokenizer.encode(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })).length;
}
