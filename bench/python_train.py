#!/usr/bin/python3
"""Training from Python: the same script body run with anneal and with PyTorch 1.13 (MLP and
CNN of the training-stack issue, batch 128, in-memory batches, warm-up excluded), one JSON
line per (framework, workload).  PYTHONPATH=build/python bench/python_train.py
Run PyTorch at its best as bench/train.sh does (OpenMP OpenBLAS, jemalloc, core type)."""
import json
import statistics
import sys
import time

import numpy as np


def run(lib_name, workload, steps):
    if lib_name == "anneal":
        import anneal as lib
        import anneal.nn as nn
        import anneal.nn.functional as F
        from_numpy = lib.from_numpy
    else:
        import torch as lib
        import torch.nn as nn
        import torch.nn.functional as F
        lib.set_num_threads(2)
        from_numpy = lib.from_numpy
    lib.manual_seed(0)
    if workload == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    batches = [(from_numpy(rng.standard_normal((128, 1, 28, 28)).astype(np.float32)),
                from_numpy(rng.integers(0, 10, 128).astype(np.int64))) for _ in range(8)]
    ms = []
    for s in range(steps + steps // 10 + 3):
        x, y = batches[s % len(batches)]
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        if s >= steps // 10 + 3:
            ms.append((time.perf_counter() - t) * 1e3)
    return {"impl": f"{lib_name}-python", "workload": workload,
            "samples_per_s": round(128 * len(ms) / (sum(ms) / 1e3), 1), "p50_step_ms": round(statistics.median(ms), 3)}


if __name__ == "__main__":
    libs = sys.argv[1:] or ["anneal", "torch"]
    for lib in libs:
        for workload, steps in (("mlp", 300), ("cnn", 60)):
            print(json.dumps(run(lib, workload, steps)), flush=True)
