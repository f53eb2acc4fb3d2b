"""TRL's GRPOTrainer on the step `npm run bench:grpo-step` measures: the same float32 weights, prompts
(chat messages, rendered by the model's own chat template), K completions of up to max_new tokens,
LoRA r16/alpha 32 on the seven projections, beta 0, and the same reward (distinct characters of the
completion). Times one optimizer step (generation, scoring, update) after the trainer is built.
Usage: trl_grpo_step.py REQUEST.json -> JSON on stdout."""
import json
import sys
import time

import torch
import trl
from datasets import Dataset
from peft import LoraConfig
from trl import GRPOConfig, GRPOTrainer

req = json.load(open(sys.argv[1]))
torch.set_num_threads(2)
k, max_new = req["k"], req["max_new"]
prompts = req["prompts"]


def distinct_chars(completions, **_):
    return [float(len(set(c[0]["content"] if isinstance(c, list) else c))) for c in completions]


args = GRPOConfig(
    output_dir="bench/out/trl-step",
    num_generations=k,
    per_device_train_batch_size=k * len(prompts),
    generation_batch_size=k * len(prompts),
    gradient_accumulation_steps=1,
    max_completion_length=max_new,
    temperature=1.0,
    beta=0.0,
    loss_type="dapo",
    learning_rate=1e-5,
    max_steps=1,
    logging_steps=1,
    save_strategy="no",
    report_to=[],
    use_cpu=True,
    bf16=False,
    seed=0,
)
peft = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM")
trainer = GRPOTrainer(model=req["model"], reward_funcs=distinct_chars, args=args, train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), peft_config=peft)
t = time.perf_counter()
trainer.train()
json.dump({"step_s": time.perf_counter() - t, "trl": trl.__version__, "torch": torch.__version__}, sys.stdout)
