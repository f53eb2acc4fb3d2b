"""PyTorch float32 timings for `npm run bench:engine`, same model files, same thread count:
prefill tokens/s, decode tokens/s (batch 1 and 8, KV cache), LoRA forward+backward seconds and peak RSS.
Usage: torch_engine_ref.py MODEL_DIR THREADS -> JSON"""
import json, math, resource, sys, time
import torch
sys.path.insert(0, __file__.rsplit('/', 2)[0] + '/../test/engine/ref')
from llama_ref import Model  # noqa: E402

model_dir, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
m = Model(model_dir, None, torch.float32)
H, G, d, C = m.H, m.G, m.d, m.C
E = m.head()

def layer_step(i, x, cache, pos):
    """x [B, C] at position pos; cache[i] = (k [B,G,L,d], v)"""
    p = "model.layers.%d" % i
    B = x.shape[0]
    xn = m.rms(x, m.w[p + ".input_layernorm.weight"])
    q = m.lin(p + ".self_attn.q_proj", xn).view(B, H, 1, d)
    k = m.lin(p + ".self_attn.k_proj", xn).view(B, G, 1, d)
    v = m.lin(p + ".self_attn.v_proj", xn).view(B, G, 1, d)
    inv = 1.0 / (m.theta ** (torch.arange(0, d, 2).float() / d))
    ang = pos * inv
    cos, sin = torch.cat([ang, ang]).cos(), torch.cat([ang, ang]).sin()
    rot = lambda t: t * cos + torch.cat([-t[..., d // 2:], t[..., : d // 2]], -1) * sin
    q, k = rot(q), rot(k)
    kc, vc = cache[i]
    kc = torch.cat([kc, k], 2); vc = torch.cat([vc, v], 2)
    cache[i] = (kc, vc)
    rep = H // G
    att = torch.softmax(q @ kc.repeat_interleave(rep, 1).transpose(2, 3) / math.sqrt(d), -1)
    o = (att @ vc.repeat_interleave(rep, 1)).view(B, H * d)
    x = x + m.lin(p + ".self_attn.o_proj", o)
    xn = m.rms(x, m.w[p + ".post_attention_layernorm.weight"])
    return x + m.lin(p + ".mlp.down_proj", torch.nn.functional.silu(m.lin(p + ".mlp.gate_proj", xn)) * m.lin(p + ".mlp.up_proj", xn))

out = {}
with torch.no_grad():
    prompt = list(range(100, 356))
    t = time.perf_counter(); h = m.hidden(prompt); logits = h[-1] @ E.T; out["prefill_tok_s"] = len(prompt) / (time.perf_counter() - t)
    for B in (1, 8):
        cache = [(torch.zeros(B, G, 0, d), torch.zeros(B, G, 0, d)) for _ in range(m.L)]
        tok = torch.full((B,), 5, dtype=torch.long)
        steps = 32
        t = time.perf_counter()
        for s in range(steps):
            x = m.w["model.embed_tokens.weight"][tok]
            for i in range(m.L):
                x = layer_step(i, x, cache, s)
            tok = torch.argmax(m.rms(x, m.w["model.norm.weight"]) @ E.T, -1)
        out["decode_b%d_tok_s" % B] = B * steps / (time.perf_counter() - t)
# LoRA r16 on all projections, 8 sequences of 256 tokens, loss on the last 128 tokens
torch.manual_seed(0)
for i in range(m.L):
    p = "model.layers.%d" % i
    for sub, n in [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"), ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]:
        w = m.w["%s.%s.%s.weight" % (p, sub, n)]
        m.lora["base_model.model.%s.%s.%s.lora_A.weight" % (p, sub, n)] = (torch.randn(16, w.shape[1]) * 0.01).requires_grad_(True)
        m.lora["base_model.model.%s.%s.%s.lora_B.weight" % (p, sub, n)] = (torch.randn(w.shape[0], 16) * 0.01).requires_grad_(True)
m.scale = 2.0
seqs = [[(7 * j + 13 * b) % 4000 + 100 for j in range(256)] for b in range(8)]
t = time.perf_counter()
for s in seqs:
    h = m.hidden(s)
    lp = torch.log_softmax(h[127:255] @ E.T, -1).gather(1, torch.tensor(s[128:]).view(-1, 1))
    (-lp.mean() / 8).backward()
out["fwd_bwd_s"] = time.perf_counter() - t
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
json.dump(out, sys.stdout)
