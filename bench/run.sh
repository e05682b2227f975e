#!/usr/bin/env bash
# bench/run.sh [OUT.jsonl]: CPU benchmarks of anneal beside PyTorch 1.13 / NumPy and
# libtorch, same machine, same run, 2 threads, three rounds, then a table of medians.
# OpenBLAS's own CPU detection picks its SSE3 ("Prescott") kernel on these virtual
# machines, and the environment may pin another; for the reference command alone the
# core type is set to SkylakeX where the CPU has AVX-512, so OpenBLAS runs its best
# kernel (never change it in tests or CI).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results.jsonl}
scripts/deps.sh
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF -DANNEAL_BUILD_TESTS=OFF \
  -DANNEAL_BUILD_EXAMPLES=OFF >/dev/null
export ANNEAL_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
: >"$out"
coretype=()
grep -q avx512f /proc/cpuinfo && coretype=(OPENBLAS_CORETYPE=SkylakeX)
for round in 1 2 3; do
  ./build-bench/bench/cpu_bench | sed "s/}$/,\"round\":$round}/" | tee -a "$out"
  [ -x build-bench/bench/libtorch_bench ] && ./build-bench/bench/libtorch_bench | sed "s/}$/,\"round\":$round}/" | tee -a "$out"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${coretype[@]}" /usr/bin/python3 bench/reference.py |
    sed "s/}$/, \"round\": $round}/" | tee -a "$out"
done
/usr/bin/python3 bench/summarize.py "$out"
