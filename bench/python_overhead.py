#!/usr/bin/python3
"""Per-op overhead from Python on small tensors, anneal beside PyTorch 1.13, one JSON line
per measurement (median of 7 rounds).  PYTHONPATH=build/python bench/python_overhead.py"""
import json
import statistics
import time

import anneal
import torch

torch.set_num_threads(2)


def median_us(fn, inner=20000, rounds=7):
    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner * 1e6)
    return statistics.median(times)


for lib, mod in (("anneal", anneal), ("torch", torch)):
    a, b = mod.ones(2, 2), mod.ones(2, 2)
    ag = mod.ones(2, 2)
    ag.requires_grad = True
    w = mod.ones(8, 8)
    w.requires_grad = True
    x = mod.ones(4, 8)
    cases = {
        "add_2x2": lambda: a + b,
        "add_2x2_grad": lambda: ag + b,
        "mul_scalar_2x2": lambda: a * 2.0,
        "matmul_fwd_bwd_4x8x8": lambda: (x @ w).sum().backward(),
    }
    for name, fn in cases.items():
        print(json.dumps({"bench": "python_overhead", "impl": lib, "case": name, "us": round(median_us(fn, 2000 if "bwd" in name else 20000), 3)}), flush=True)
