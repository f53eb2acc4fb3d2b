"""Independent PyTorch reference of the Llama / Qwen2 decoder (written from the Hugging Face modeling code's
equations, not from sqlrl's): logprobs of completion tokens, and gradients of sum(g_t * logp_t) with respect
to LoRA adapters, or greedy decoding. Reads a Hugging Face folder (config.json, model.safetensors F32) and
optionally a PEFT adapter folder. Usage: llama_ref.py REQUEST.json  ->  JSON on stdout."""
import json
import math
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(1)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).copy().reshape(e["shape"]))
    return out


class Model:
    def __init__(self, model_dir, adapter_dir=None, dtype=torch.float64):
        cfg = json.load(open(model_dir + "/config.json"))
        self.cfg = cfg
        self.w = {k: v.to(dtype) for k, v in read_safetensors(model_dir + "/model.safetensors").items()}
        self.H = cfg["num_attention_heads"]
        self.G = cfg.get("num_key_value_heads", self.H)
        self.C = cfg["hidden_size"]
        self.d = cfg.get("head_dim", self.C // self.H)
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.tied = cfg.get("tie_word_embeddings", False)
        self.lora = {}
        self.scale = 0.0
        if adapter_dir:
            acfg = json.load(open(adapter_dir + "/adapter_config.json"))
            self.scale = acfg["lora_alpha"] / acfg["r"]
            for k, v in read_safetensors(adapter_dir + "/adapter_model.safetensors").items():
                t = v.to(dtype).requires_grad_(True)
                self.lora[k] = t
        self.dtype = dtype

    def lin(self, name, x):
        y = x @ self.w[name + ".weight"].T
        if name + ".bias" in self.w:
            y = y + self.w[name + ".bias"]
        a = self.lora.get("base_model.model." + name + ".lora_A.weight")
        if a is not None:
            b = self.lora["base_model.model." + name + ".lora_B.weight"]
            y = y + self.scale * ((x @ a.T) @ b.T)
        return y

    def rms(self, x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, T):
        # x [heads, T, d]; HF rotate_half with inv_freq = theta^(-2i/d), angles in float32 as HF computes them
        inv = 1.0 / (self.theta ** (torch.arange(0, self.d, 2, dtype=torch.int64).float() / self.d))
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        emb = torch.cat([ang, ang], -1)
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        x1, x2 = x[..., : self.d // 2], x[..., self.d // 2:]
        rot = torch.cat([-x2, x1], -1)
        return x * cos + rot * sin

    def hidden(self, tokens):
        T = len(tokens)
        x = self.w["model.embed_tokens.weight"][torch.tensor(tokens)]
        mask = torch.full((T, T), float("-inf"), dtype=self.dtype).triu(1)
        for i in range(self.L):
            p = "model.layers.%d" % i
            xn = self.rms(x, self.w[p + ".input_layernorm.weight"])
            q = self.lin(p + ".self_attn.q_proj", xn).view(T, self.H, self.d).transpose(0, 1)
            k = self.lin(p + ".self_attn.k_proj", xn).view(T, self.G, self.d).transpose(0, 1)
            v = self.lin(p + ".self_attn.v_proj", xn).view(T, self.G, self.d).transpose(0, 1)
            q, k = self.rope(q, T), self.rope(k, T)
            rep = self.H // self.G
            k = k.repeat_interleave(rep, 0)
            v = v.repeat_interleave(rep, 0)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.d) + mask, -1)
            o = (att @ v).transpose(0, 1).reshape(T, self.H * self.d)
            x = x + self.lin(p + ".self_attn.o_proj", o)
            xn = self.rms(x, self.w[p + ".post_attention_layernorm.weight"])
            g = self.lin(p + ".mlp.gate_proj", xn)
            u = self.lin(p + ".mlp.up_proj", xn)
            x = x + self.lin(p + ".mlp.down_proj", torch.nn.functional.silu(g) * u)
        return self.rms(x, self.w["model.norm.weight"])

    def head(self):
        return self.w["model.embed_tokens.weight"] if self.tied else self.w["lm_head.weight"]


def main():
    req = json.load(open(sys.argv[1]))
    dtype = torch.float64 if req.get("dtype", "float64") == "float64" else torch.float32
    m = Model(req["model"], req.get("adapter"), dtype)
    out = {}
    if req["op"] == "logprobs":
        tokens, start, tau = req["tokens"], req["start"], req.get("temperature", 1.0)
        h = m.hidden(tokens)
        logits = (h[start - 1: len(tokens) - 1] @ m.head().T) / tau
        lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(tokens[start:]).view(-1, 1)).view(-1)
        out["logprobs"] = lp.tolist()
        if m.lora and "g" in req:
            (lp * torch.tensor(req["g"], dtype=dtype)).sum().backward()
            out["grads"] = {k: v.grad.reshape(-1).tolist() for k, v in m.lora.items()}
        if req.get("last_logits"):
            out["last_logits"] = (h[-1] @ m.head().T).tolist()
    elif req["op"] == "group":
        # one prompt and K completions, each run as its own sequence (the definition the grouped engine must
        # equal): logprobs of every completion token, and the gradient of sum_k sum_t g_kt * logp_kt
        prompt, tau = req["prompt"], req.get("temperature", 1.0)
        total = 0
        lps = []
        for comp, g in zip(req["completions"], req["g"]):
            if not comp:
                lps.append([])
                continue
            tokens = prompt + comp
            h = m.hidden(tokens)
            logits = (h[len(prompt) - 1: len(tokens) - 1] @ m.head().T) / tau
            lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(comp).view(-1, 1)).view(-1)
            lps.append(lp.tolist())
            total = total + (lp * torch.tensor(g, dtype=dtype)).sum()
        out["logprobs"] = lps
        if m.lora:
            total.backward()
            out["grads"] = {k: v.grad.reshape(-1).tolist() for k, v in m.lora.items()}
    elif req["op"] == "teacher":
        # one pass over prompt + completion: the argmax after every position (greedy decoding agrees with it
        # token for token iff these equal the completion) and the logits at the last position
        with torch.no_grad():
            h = m.hidden(req["tokens"])
            logits = h @ m.head().T
            out["argmax"] = torch.argmax(logits, -1).tolist()
            out["last_logits"] = logits[-1].tolist()
    elif req["op"] == "greedy":
        tokens = list(req["tokens"])
        gen = []
        with torch.no_grad():
            for _ in range(req["n"]):
                h = m.hidden(tokens)
                nxt = int(torch.argmax(h[-1] @ m.head().T))
                gen.append(nxt)
                tokens.append(nxt)
                if nxt in req.get("eos", []):
                    break
        out["tokens"] = gen
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
