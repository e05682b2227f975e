#!/usr/bin/python3
"""Runs the distributed benchmarks round by round, anneal and PyTorch interleaved (the
machine is noisy), and prints their JSON lines plus a table of medians on stderr.

    dist_driver.py DIST_BENCH ROUNDS   (bench/dist.sh sets the PyTorch environment)"""
import json
import os
import socket
import statistics
import subprocess
import sys

bench, rounds = sys.argv[1], int(sys.argv[2])
torch_env = json.loads(os.environ.get("ANNEAL_TORCH_ENV", "{}"))
here = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ranks(cmd, n, extra_env=None):
    port = free_port()
    procs = []
    for r in range(n):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(n), LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(n),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), ANNEAL_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   GLOO_SOCKET_IFNAME="lo", **(extra_env or {}))
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    out = [p.communicate(timeout=600)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"{cmd} failed")
    return [json.loads(l) for l in out[0].splitlines() if l.startswith("{")]


cases = [("allreduce",), ("ddp", "mlp", "ddp"), ("ddp", "mlp", "no-overlap"), ("ddp", "mlp", "local"),
         ("ddp", "cnn", "ddp"), ("ddp", "cnn", "no-overlap"), ("ddp", "cnn", "local")]
rows = []
for rnd in range(1, rounds + 1):
    for case in cases:
        for impl in ("anneal", "torch"):
            cmd = [bench, *case] if impl == "anneal" else ["/usr/bin/python3", f"{here}/dist_reference.py", *case]
            for row in ranks(cmd, 2, None if impl == "anneal" else torch_env):
                row["round"] = rnd
                print(json.dumps(row), flush=True)
                rows.append(row)
    # world size 1: DDP over a plain step
    for model in ("mlp", "cnn"):
        for mode in ("plain", "ddp"):
            for row in ranks([bench, "ddp", model, mode], 1):
                row["round"] = rnd
                row["ranks"] = 1
                print(json.dumps(row), flush=True)
                rows.append(row)

med = statistics.median
print(f"{'all-reduce float32, 2 ranks':30} {'anneal GB/s':>12} {'torch GB/s':>11} {'ratio':>6}", file=sys.stderr)
for size in sorted({r["bytes"] for r in rows if r["bench"] == "allreduce"}):
    a = med(r["busbw_GBps"] for r in rows if r["bench"] == "allreduce" and r["impl"] == "anneal" and r["bytes"] == size)
    t = med(r["busbw_GBps"] for r in rows if r["bench"] == "allreduce" and r["impl"] == "torch" and r["bytes"] == size)
    print(f"{size:>30} {a:12.3f} {t:11.3f} {a / t:6.2f}", file=sys.stderr)
print(f"{'DDP step, 2 ranks x 1 thread':30} {'anneal ms':>12} {'torch ms':>11} {'ratio':>6}", file=sys.stderr)
for model in ("mlp", "cnn"):
    for mode in ("ddp", "no-overlap", "local"):
        sel = lambda impl: [r["mean_step_ms"] for r in rows if r["bench"] == "ddp" and r["ranks"] == 2
                            and r["impl"] == impl and r["model"] == model and r["mode"] == mode]
        a, t = med(sel("anneal")), med(sel("torch"))
        print(f"{model + ' ' + mode:>30} {a:12.2f} {t:11.2f} {t / a:6.2f}", file=sys.stderr)
    one = lambda mode: med(r["mean_step_ms"] for r in rows if r["bench"] == "ddp" and r["ranks"] == 1
                           and r["model"] == model and r["mode"] == mode)
    print(f"{model + ' world 1: DDP / plain':>30} {one('ddp') / one('plain'):12.3f}", file=sys.stderr)
