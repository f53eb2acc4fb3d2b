// OpenRLHF's remote reward request, taken apart: its `query` is the decoded prompt + response with the
// model's special tokens kept (openrlhf/utils/agent.py), and its `prompts` the prompt text. The response is
// what follows the prompt, minus the end-of-sequence and padding tokens the decoder left in; the text a
// prompt prefilled in the assistant turn is what follows the prompt's last assistant header.

/** Special tokens that end or pad a decoded response: ChatML / Llama-3 / Phi `<|…|>`, DeepSeek `<｜…｜>`, `</s>`, Gemma, `<pad>`. */
const SPECIAL = /(?:<\|[^<>|\s]{1,40}\|>|<｜[^<>｜]{1,40}｜>|<\/s>|<eos>|<end_of_turn>|<pad>|\[PAD\])\s*$/;

/** The response without the trailing run of special tokens (and the whitespace between them). */
export function stripSpecialTokens(text: string): string {
  let out = text;
  for (;;) {
    const m = SPECIAL.exec(out);
    if (!m) return out;
    out = out.slice(0, m.index);
  }
}

/** Assistant-turn headers of the common chat templates, as they appear in a decoded prompt. */
const ASSISTANT_HEADERS = ['<|im_start|>assistant\n', '<|start_header_id|>assistant<|end_header_id|>\n\n', '<|assistant|>\n', '<start_of_turn>model\n', '<｜Assistant｜>', 'Assistant:'];

/**
 * The text the prompt prefilled in the assistant turn: what follows its last assistant header ('' when
 * the prompt ends with the header); null when the prompt has no known header.
 */
export function promptPrefill(prompt: string): string | null {
  let best: { at: number; header: string } | null = null;
  for (const header of ASSISTANT_HEADERS) {
    const at = prompt.lastIndexOf(header);
    if (at >= 0 && (!best || at > best.at)) best = { at, header };
  }
  return best ? prompt.slice(best.at + best.header.length) : null;
}

/** The response inside `query`: after the prompt (left padding may precede it), special tokens stripped; null when the prompt is not in `query`. */
export function locateResponse(query: string, prompt: string): string | null {
  const at = query.indexOf(prompt);
  if (at < 0) return null;
  return stripSpecialTokens(query.slice(at + prompt.length));
}
