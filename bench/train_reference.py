#!/usr/bin/python3
"""PyTorch (Debian's 1.13) reference for bench/train_bench.cpp: the same three workloads,
same batches sizes and optimizers, 2 threads, in-memory batches, warm-up excluded.
usage: train_reference.py mlp|cnn|char_gpt|gpt2 [steps] [--device cuda:0] [--autocast]
                          [--form NAME]   (one JSON line)
gpt2 is GPT-2 small (batch 4, context 1024) for the GPU; --autocast runs it under bf16
autocast (PyTorch's usual mixed precision), otherwise everything is float32.
--form picks one of a model's idiomatic PyTorch formulations (bench/train_driver.py runs
the fastest): the GPTs' attention as nn.MultiheadAttention ("mha", the default) or written
out ("manual": one qkv projection, masked softmax); the CNN in the default layout or
channels_last.
Run it as bench/train.sh does, with PyTorch at its best on this machine (bench/torch_best.py:
the OpenMP build of OpenBLAS, its fastest core type, jemalloc without decay)."""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(1)
args = [a for a in sys.argv[1:] if not a.startswith("--")]
dev = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
if "--device" in sys.argv:
    args.remove(dev)
autocast = "--autocast" in sys.argv
form = sys.argv[sys.argv.index("--form") + 1] if "--form" in sys.argv else "default"
if "--form" in sys.argv:
    args.remove(form)
name = args[0]
if dev.startswith("cuda"):
    torch.backends.cuda.matmul.allow_tf32 = False  # anneal's float32 GEMM is full float32


class CausalSelfAttention(nn.Module):
    """The attention written out, as minGPT/nanoGPT do on PyTorch 1.x."""

    def __init__(self, d, h):
        super().__init__()
        self.h, self.qkv, self.proj = h, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x, mask, **_):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / (C // self.h) ** 0.5)
        att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
        return (self.proj((att @ v).transpose(1, 2).reshape(B, T, C)),)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, h) if form == "manual" else nn.MultiheadAttention(d, h, batch_first=True)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, mask):
        a = self.ln_1(x)
        x = x + (self.attn(a, mask) if form == "manual" else self.attn(a, a, a, attn_mask=mask, need_weights=False))[0]
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, V=75, ctx=128, L=4, h=4, d=128):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(ctx, d)
        self.h = nn.ModuleList([Block(d, h) for _ in range(L)])
        self.ln_f = nn.LayerNorm(d)

    def forward(self, idx):
        T = idx.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=idx.device), 1)
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for b in self.h:
            x = b(x, mask)
        return self.ln_f(x) @ self.wte.weight.T


if name == "mlp":
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
elif name == "cnn":
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
elif name == "gpt2":
    model = GPT(V=50257, ctx=1024, L=12, h=12, d=768)
else:
    model = GPT()
model = model.to(dev)
if name in ("char_gpt", "gpt2"):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)

if name in ("char_gpt", "gpt2"):
    B, T, V = (32, 128, 75) if name == "char_gpt" else (4, 1024, 50257)
    batches = [(torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))) for _ in range(8 if name == "char_gpt" else 2)]
    items, unit = B * T, "tokens_per_s"

    def loss_of(x, y):
        if not autocast:
            return F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())
else:
    batches = [(torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))) for _ in range(8)]
    items, unit = 128, "samples_per_s"

    def loss_of(x, y):
        return F.cross_entropy(model(x), y)

batches = [(x.to(dev), y.to(dev)) for x, y in batches]
if form == "channels_last":
    model = model.to(memory_format=torch.channels_last)
    batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
steps = int(args[1]) if len(args) > 1 else {"mlp": 300, "gpt2": 20}.get(name, 60)
warmup = max(3, steps // 10)
ms = []
for s in range(warmup + steps):
    x, y = batches[s % len(batches)]
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = loss_of(x, y)
    loss.backward()
    opt.step()
    loss.item()
    if s >= warmup:
        ms.append((time.perf_counter() - t0) * 1e3)
total = sum(ms)
ms.sort()
print(json.dumps({"impl": "torch", "workload": name, "form": form, "device": dev, "autocast": autocast, unit: round(items * len(ms) / (total / 1e3), 1),
                  "p50_step_ms": round(ms[len(ms) // 2], 3), "p90_step_ms": round(ms[len(ms) * 9 // 10], 3),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "threads": torch.get_num_threads(), "steps": steps}), flush=True)
