#!/usr/bin/python3
"""The same measurements as bench/cpu_bench.cpp with PyTorch 1.13 and NumPy (OpenBLAS), as
JSON lines. Run through bench/run.sh, which fixes the thread count and unsets
OPENBLAS_CORETYPE for this command alone."""
import json
import os
import statistics
import time

import numpy as np
import torch

threads = int(os.environ.get("ANNEAL_NUM_THREADS", "2"))
torch.set_num_threads(threads)


def median_seconds(f, reps=7, inner=1):
    f()
    ts = []
    for _ in range(reps):
        s = time.perf_counter()
        for _ in range(inner):
            f()
        ts.append((time.perf_counter() - s) / inner)
    return statistics.median(ts)


def emit(**kw):
    print(json.dumps(kw), flush=True)


for n in (256, 512, 1024, 2048):
    a, b = torch.randn(n, n), torch.randn(n, n)
    s = median_seconds(lambda: torch.mm(a, b), 5 if n >= 2048 else 9, 20 if n <= 256 else 1)
    emit(bench="gemm_f32", impl="torch", n=n, threads=threads, gflops=round(2 * n**3 / s / 1e9, 1))
    an, bn = a.numpy(), b.numpy()
    s = median_seconds(lambda: an @ bn, 5 if n >= 2048 else 9, 20 if n <= 256 else 1)
    emit(bench="gemm_f32", impl="numpy_openblas", n=n, threads=threads, gflops=round(2 * n**3 / s / 1e9, 1))

N = 16 << 20
a, b = torch.randn(N), torch.randn(N)
s = median_seconds(lambda: torch.add(a, b), 9)
emit(bench="add_f32", impl="torch", numel=N, threads=threads, gbps=round(12 * N / s / 1e9, 1), ms=round(s * 1e3, 2))
s = median_seconds(lambda: a.clone(), 9)
emit(bench="copy_f32", impl="torch", numel=N, threads=threads, gbps=round(8 * N / s / 1e9, 1))
s = median_seconds(lambda: torch.relu(a), 9)
emit(bench="relu_f32", impl="torch", numel=N, threads=threads, gbps=round(8 * N / s / 1e9, 1), ms=round(s * 1e3, 2))
an, bn = a.numpy(), b.numpy()
s = median_seconds(lambda: np.add(an, bn), 9)
emit(bench="add_f32", impl="numpy", numel=N, threads=1, gbps=round(12 * N / s / 1e9, 1), ms=round(s * 1e3, 2))
