"""The cases of bench/gpu_bench.cpp with PyTorch on the same card, one JSON line each.
    python3 bench/gpu_reference.py [--quick]"""
import json
import sys

import torch

quick = "--quick" in sys.argv
dev = "cuda:0"
torch.backends.cuda.matmul.allow_tf32 = False  # anneal's float32 GEMM is full float32


def ms_per_call(fn, inner):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / inner)
    return sorted(times)[len(times) // 2]


def emit(case, ms, unit, value):
    print(json.dumps({"bench": "gpu", "impl": "torch", "case": case, "ms": round(ms, 4), unit: round(value, 1)}), flush=True)


with torch.no_grad():
    for dt, name in ((torch.float32, "float32"), (torch.bfloat16, "bfloat16")):
        for n in (4096, 8192):
            if quick and n > 4096:
                continue
            a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
            ms = ms_per_call(lambda: a @ b, 3)
            emit(f"matmul_{name}_{n}", ms, "tflops", 2 * n ** 3 / (ms * 1e9))
    n = 4096 if quick else 8192
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    torch.backends.cuda.matmul.allow_tf32 = True
    ms = ms_per_call(lambda: a @ b, 3)
    torch.backends.cuda.matmul.allow_tf32 = False
    emit(f"matmul_tf32_{n}", ms, "tflops", 2 * n ** 3 / (ms * 1e9))
    rows, cols = 8192, 4096 if quick else 8192
    x, y = torch.randn(rows, cols, device=dev), torch.randn(rows, cols, device=dev)
    nbytes = rows * cols * 4
    ms = ms_per_call(lambda: x.clone(), 10)
    emit("copy_f32", ms, "gbps", 2 * nbytes / (ms * 1e6))
    ms = ms_per_call(lambda: x + y, 10)
    emit("add_f32", ms, "gbps", 3 * nbytes / (ms * 1e6))
    ms = ms_per_call(lambda: x * 2.0, 10)
    emit("mul_scalar_f32", ms, "gbps", 2 * nbytes / (ms * 1e6))
    ms = ms_per_call(lambda: torch.nn.functional.gelu(x), 10)
    emit("gelu_f32", ms, "gbps", 2 * nbytes / (ms * 1e6))
    xb, yb = x.to(torch.bfloat16), y.to(torch.bfloat16)
    ms = ms_per_call(lambda: xb + yb, 10)
    emit("add_bf16", ms, "gbps", 3 * nbytes / 2 / (ms * 1e6))
    ms = ms_per_call(lambda: torch.softmax(x, -1), 10)
    emit("softmax_f32", ms, "gbps", 2 * nbytes / (ms * 1e6))
    w, bias = torch.ones(cols, device=dev), torch.zeros(cols, device=dev)
    ms = ms_per_call(lambda: torch.nn.functional.layer_norm(x, (cols,), w, bias), 10)
    emit("layer_norm_f32", ms, "gbps", 2 * nbytes / (ms * 1e6))
    target = torch.randint(0, cols, (rows,), device=dev)
    ms = ms_per_call(lambda: torch.nn.functional.cross_entropy(x, target), 10)
    emit("cross_entropy_f32", ms, "gbps", nbytes / (ms * 1e6))
