"""Builds a tiny Qwen2 model folder from scratch, with no hub access: a byte-level BPE tokenizer fitted
to the given JSONL prompts (ChatML chat template), random weights, safetensors. Untrained, so its
completions are noise: it exists to run the training loop end to end, not to learn.

usage: make_tiny_model.py PROMPTS.jsonl OUT_DIR
"""
import json
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def texts(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            for m in row["prompt"]:
                yield m["content"]
            if "gold_sql" in row:
                yield "<think>\n</think>\n<answer>\n```sql\n" + row["gold_sql"] + "\n```\n</answer>"


def main():
    prompts, out = sys.argv[1], sys.argv[2]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        texts(prompts),
        trainers.BpeTrainer(vocab_size=1024, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHATML
    tok.save_pretrained(out)

    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        tie_word_embeddings=True, eos_token_id=eos, pad_token_id=pad, bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(out)
    print(f"tiny model: {sum(p.numel() for p in model.parameters())} parameters, vocabulary {len(tok)}, in {out}")


if __name__ == "__main__":
    main()
