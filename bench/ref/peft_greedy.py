"""The final GRPO adapter in PEFT on the same base weights: greedy completions of the given chat prompts,
for `npm run bench:spider` to compare with sqlrl's own greedy predictions.
Usage: peft_greedy.py REQUEST.json ({model, adapter, prompts: [[messages]], max_new, stop?}) -> {"completions": [...]}
A completion is cut at the first stop string, as sqlrl cuts its own."""
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

req = json.load(open(sys.argv[1]))
torch.set_num_threads(2)
tok = AutoTokenizer.from_pretrained(req["model"])
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(req["model"], torch_dtype=torch.float32), req["adapter"])
model.eval()
out = []
with torch.no_grad():
    for messages in req["prompts"]:
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        if not torch.is_tensor(ids):
            ids = ids["input_ids"]
        gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=req["max_new"], do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
        text = tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)
        for stop in req.get("stop", []):
            if stop in text:
                text = text[: text.index(stop)]
        out.append(text)
json.dump({"completions": out}, sys.stdout)
