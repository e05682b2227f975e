#!/usr/bin/env bash
# bench/train.sh [ROUNDS]: training throughput of the mlp, cnn and char_gpt workloads, one
# JSON line per workload and round, anneal beside PyTorch 1.13 configured at its best here
# (OpenMP OpenBLAS via LD_LIBRARY_PATH, jemalloc preloaded, 2 threads). Each workload runs
# in its own process so peak_rss_mb is its own. A table of medians follows on stderr.
# OpenBLAS detects these virtual CPUs as "Prescott" (SSE3) and runs its slowest kernels;
# for PyTorch at its best the core type is set to SkylakeX where the CPU has AVX-512.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
scripts/deps.sh
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF -DANNEAL_BUILD_TESTS=OFF \
  -DANNEAL_BUILD_EXAMPLES=OFF -DANNEAL_PYTHON=OFF >/dev/null
export ANNEAL_NUM_THREADS=2 OMP_NUM_THREADS=2
torch_env=(env -u OPENBLAS_CORETYPE)
grep -q avx512f /proc/cpuinfo && torch_env+=(OPENBLAS_CORETYPE=SkylakeX)
openblas_omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -d "$openblas_omp" ] && torch_env+=(LD_LIBRARY_PATH="$openblas_omp")
[ -f "$jemalloc" ] && torch_env+=(LD_PRELOAD="$jemalloc")
out=$(mktemp)
for round in $(seq "$rounds"); do
  for w in mlp cnn char_gpt; do
    ./build-bench/bench/train_bench "$w" | tee -a "$out"
    "${torch_env[@]}" /usr/bin/python3 bench/train_reference.py "$w" | tee -a "$out"
  done
done
/usr/bin/python3 - "$out" >&2 <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'workload':10} {'impl':7} {'items/s (median)':>17} {'p50 ms':>8} {'p90 ms':>8} {'rss MB':>7}")
for w in ("mlp", "cnn", "char_gpt"):
    for impl in ("anneal", "torch"):
        r = [x for x in rows if x["workload"] == w and x["impl"] == impl]
        if not r:
            continue
        key = "tokens_per_s" if w == "char_gpt" else "samples_per_s"
        med = lambda k: statistics.median(x[k] for x in r)
        print(f"{w:10} {impl:7} {med(key):17.0f} {med('p50_step_ms'):8.2f} {med('p90_step_ms'):8.2f} {med('peak_rss_mb'):7.0f}")
PY
rm -f "$out"
