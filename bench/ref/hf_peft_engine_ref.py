"""Hugging Face transformers + PEFT reference for `npm run bench:engine`, on the same model folder and
thread count as the engine: LoRA r16 (alpha 32, all seven projections) forward + backward of 8 sequences
of 256 tokens (loss on the last 128 tokens of each), warmed up, timed; optionally prefill (256 tokens) and
decode (batch 1 and 8, KV cache) tokens/s. The library's own modules do the work (no hand-written loop).
Usage: hf_peft_engine_ref.py MODEL_DIR THREADS [lora|decode] -> JSON on stdout."""
import json
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

model_dir, threads, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
REPS = 3  # timed passes of the LoRA forward + backward (the best is reported); the engine takes the best of as many
torch.set_num_threads(threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="sdpa")
out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
V = model.config.vocab_size

if what == "lora":
    cfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM")
    peft = get_peft_model(model, cfg)
    peft.train()
    seqs = torch.tensor([[(7 * j + 13 * b) % min(4000, V - 100) + 100 for j in range(256)] for b in range(8)])

    def step():
        logits = peft(input_ids=seqs).logits[:, 127:255, :]
        lp = torch.log_softmax(logits, -1).gather(2, seqs[:, 128:].unsqueeze(-1))
        (-lp.mean()).backward()

    step()  # warm-up
    # best of REPS timed passes, as the engine's side: the machine's speed varies from minute to minute
    best = float("inf")
    for _ in range(REPS):
        peft.zero_grad(set_to_none=True)
        t = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t)
    out["fwd_bwd_s"] = best
else:
    model.eval()
    with torch.no_grad():
        prompt = torch.arange(100, 356).unsqueeze(0)
        model(input_ids=prompt, use_cache=True)  # warm-up
        t = time.perf_counter()
        model(input_ids=prompt, use_cache=True)
        out["prefill_tok_s"] = 256 / (time.perf_counter() - t)
        for B in (1, 8):
            ids = torch.full((B, 1), 5)
            res = model(input_ids=ids, use_cache=True)
            past = res.past_key_values
            steps = 32
            t = time.perf_counter()
            for _ in range(steps):
                res = model(input_ids=torch.argmax(res.logits[:, -1:], -1), past_key_values=past, use_cache=True)
                past = res.past_key_values
            out["decode_b%d_tok_s" % B] = B * steps / (time.perf_counter() - t)
json.dump(out, sys.stdout)
