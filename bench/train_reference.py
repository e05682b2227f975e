#!/usr/bin/python3
"""PyTorch (Debian's 1.13) reference for bench/train_bench.cpp: the same three workloads,
same batches sizes and optimizers, 2 threads, in-memory batches, warm-up excluded.
usage: train_reference.py mlp|cnn|char_gpt [steps]   (one JSON line)
Run it as bench/train.sh does, with PyTorch at its best on this machine: the OpenMP
build of OpenBLAS via LD_LIBRARY_PATH, jemalloc preloaded, OPENBLAS_CORETYPE unset."""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(1)
name = sys.argv[1]


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, h, batch_first=True)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, mask):
        a = self.ln_1(x)
        x = x + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, V=75, ctx=128, L=4, h=4, d=128):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(ctx, d)
        self.h = nn.ModuleList([Block(d, h) for _ in range(L)])
        self.ln_f = nn.LayerNorm(d)

    def forward(self, idx):
        T = idx.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        x = self.wte(idx) + self.wpe(torch.arange(T))
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
else:
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)

if name == "char_gpt":
    batches = [(torch.randint(0, 75, (32, 128)), torch.randint(0, 75, (32, 128))) for _ in range(8)]
    items, unit = 32 * 128, "tokens_per_s"

    def loss_of(x, y):
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten())
else:
    batches = [(torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))) for _ in range(8)]
    items, unit = 128, "samples_per_s"

    def loss_of(x, y):
        return F.cross_entropy(model(x), y)

steps = int(sys.argv[2]) if len(sys.argv) > 2 else (60 if name != "mlp" else 300)
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
print(json.dumps({"impl": "torch", "workload": name, unit: round(items * len(ms) / (total / 1e3), 1),
                  "p50_step_ms": round(ms[len(ms) // 2], 3), "p90_step_ms": round(ms[len(ms) * 9 // 10], 3),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "threads": torch.get_num_threads(), "steps": steps}), flush=True)
