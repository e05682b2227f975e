#!/usr/bin/python3
"""PyTorch at its best on the CPU at hand: which OpenBLAS kernel, which ATen vector width.

The reference of every CPU benchmark is PyTorch 1.13 (Debian) configured as fast as it can
run here, found by measuring rather than assumed, because the best setting differs by CPU:
- OpenBLAS's own detection can pick a slow kernel on virtual CPUs (it takes some Xeons for
  "Prescott", SSE3), and the fastest core type differs by CPU (SapphireRapids or Cooperlake
  on one Xeon, no setting at all on a Zen): each core type the library offers is timed on
  float32 GEMMs in its own process and the fastest is kept.
- OpenMP OpenBLAS (Debian's libopenblas0-openmp, by LD_LIBRARY_PATH) instead of the
  pthreads one that fights PyTorch's OpenMP threads; jemalloc preloaded without decay, so
  freed activations are kept rather than returned to the system and faulted back.

usage: torch_best.py [--json]   prints the environment as NAME=VALUE lines (shell-ready),
or one JSON object with the measurements behind the choice."""
import json
import os
import subprocess
import sys

OPENBLAS_OMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
# jemalloc keeps freed pages (no dirty/muzzy decay) and serves big blocks from its arenas
JEMALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0"
# OpenBLAS's DYNAMIC_ARCH x86-64 core names worth trying on a current CPU; one the CPU
# cannot run (SIGILL) or the library does not know is dropped by the probe.
CORE_TYPES = ["", "Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen"]

_PROBE = r"""
import ctypes, json, time, torch
torch.set_num_threads(2)
core = "?"
for line in open("/proc/self/maps"):
    path = line.split()[-1]
    if "libblas.so" in path or "libopenblas" in path:
        try:
            f = ctypes.CDLL(path).openblas_get_corename
            f.restype = ctypes.c_char_p
            core = f().decode()
            break
        except (OSError, AttributeError):
            pass
best = {}
for n in (512, 2048):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    reps = 40 if n == 512 else 4
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        ts.append((time.perf_counter() - t) / reps)
    best[n] = round(2 * n ** 3 / min(ts) / 1e9, 1)
print(json.dumps({"core": core, "gflops": best}))
"""


def base_env():
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
           "OPENBLAS_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    if os.path.isdir(OPENBLAS_OMP):
        env["LD_LIBRARY_PATH"] = OPENBLAS_OMP
    if os.path.isfile(JEMALLOC):
        env["LD_PRELOAD"] = JEMALLOC
        env["MALLOC_CONF"] = JEMALLOC_CONF
    return env


def probe_core(core, env):
    full = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_VERBOSE")}
    full.update(env)
    if core:
        full["OPENBLAS_CORETYPE"] = core
    try:
        p = subprocess.run([sys.executable, "-c", _PROBE], env=full, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def choose():
    env = base_env()
    results = {}
    for core in CORE_TYPES:
        r = probe_core(core, env)
        if r is None:
            continue
        # a name OpenBLAS does not know falls back to its detection: the same kernel twice
        results[core or "(detected)"] = r
    if not results:
        raise SystemExit("torch_best: PyTorch did not run a GEMM under any OpenBLAS core type")
    # the core type with the best geometric mean of the two sizes
    def score(item):
        g = item[1]["gflops"]
        return g["512"] * g["2048"]
    best_name, best = max(results.items(), key=score)
    if best_name != "(detected)":
        env["OPENBLAS_CORETYPE"] = best_name
    return env, {"chosen": best_name, "kernel": best["core"], "probes": results,
                 "openblas_openmp": "LD_LIBRARY_PATH" in env, "jemalloc": "LD_PRELOAD" in env}


if __name__ == "__main__":
    env, info = choose()
    if "--json" in sys.argv:
        print(json.dumps({"env": env, **info}))
    else:
        for k, v in env.items():
            print(f"{k}={v}")
