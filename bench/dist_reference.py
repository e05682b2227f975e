#!/usr/bin/python3
"""PyTorch (Debian's 1.13, torch.distributed on Gloo) counterpart of bench/dist_bench.cpp,
the same measurements and JSON lines; bench/dist.sh starts its ranks with the variables
set by hand (Debian's torchrun is broken).

    dist_reference.py allreduce | ddp mlp|cnn ddp|no-overlap|local|plain"""
import json
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
dist.init_process_group("gloo")
rank, n = dist.get_rank(), dist.get_world_size()
args = sys.argv[1:]

if args[0] == "allreduce":
    size, hi, factor = (int(args[1]), int(args[2]), int(args[3])) if len(args) > 3 else (1024, 64 << 20, 4)
    while size <= hi:
        t = torch.ones(size // 4)
        iters = max(5, min(2000, (256 << 20) // size))
        for _ in range(3):
            dist.all_reduce(t)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        s = (time.perf_counter() - start) / iters
        algbw = size / s / 1e9
        if rank == 0:
            print(json.dumps({"bench": "allreduce", "impl": "torch", "ranks": n, "bytes": size, "us": s * 1e6,
                              "algbw_GBps": algbw, "busbw_GBps": algbw * 2 * (n - 1) / n}), flush=True)
        size *= factor
else:
    model_name, mode = args[1], args[2]
    torch.manual_seed(1)
    mlp = model_name == "mlp"
    glob = 128 if mlp else 64
    per_rank = glob if mode == "plain" else glob // n
    if mlp:
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                            nn.Linear(256, 10))
    else:
        net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    model = net
    if mode in ("ddp", "no-overlap"):
        model = nn.parallel.DistributedDataParallel(net, bucket_cap_mb=1e5 if mode == "no-overlap" else 25)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if mlp else torch.optim.Adam(model.parameters(), 1e-3)
    batches = [(torch.randn(per_rank, 1, 28, 28), torch.randint(0, 10, (per_rank,))) for _ in range(8)]
    warmup, steps = 5, (150 if mlp else 30)
    ms = []
    for s in range(warmup + steps):
        x, y = batches[s % len(batches)]
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if s >= warmup:
            ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    mean = sum(ms) / len(ms)
    items = per_rank * (n if mode == "local" else 1) if mode in ("plain", "local") else glob
    if rank == 0:
        print(json.dumps({"bench": "ddp", "impl": "torch", "model": model_name, "mode": mode, "ranks": n,
                          "global_batch": per_rank if mode == "plain" else glob, "p50_step_ms": ms[len(ms) // 2],
                          "mean_step_ms": mean, "samples_per_s": items / (mean / 1e3)}), flush=True)
dist.barrier()
dist.destroy_process_group()
