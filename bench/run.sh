#!/usr/bin/env bash
# bench/run.sh [OUT.jsonl]: CPU benchmarks of anneal beside PyTorch 1.13 / NumPy and
# libtorch, same machine, same run, 2 threads, three rounds, then a table of medians, and
# the machine's FMA peak (bench/fma_peak) as the ceiling of the GEMM figures.
# The reference runs as bench/torch_best.py measures fastest on this CPU: OpenMP
# OpenBLAS at its fastest core type, jemalloc without decay (for the reference commands
# alone: never in tests or CI).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results.jsonl}
scripts/deps.sh libopenblas0-openmp libjemalloc2
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF -DANNEAL_BUILD_TESTS=OFF \
  -DANNEAL_BUILD_EXAMPLES=OFF >/dev/null
export ANNEAL_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
: >"$out"
mapfile -t torch_env < <(/usr/bin/python3 bench/torch_best.py)
echo "reference environment: ${torch_env[*]}" >&2
./build-bench/bench/fma_peak | tee -a "$out"
for round in 1 2 3; do
  ./build-bench/bench/cpu_bench | sed "s/}$/,\"round\":$round}/" | tee -a "$out"
  [ -x build-bench/bench/libtorch_bench ] && ./build-bench/bench/libtorch_bench | sed "s/}$/,\"round\":$round}/" | tee -a "$out"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${torch_env[@]}" /usr/bin/python3 bench/reference.py |
    sed "s/}$/, \"round\": $round}/" | tee -a "$out"
done
/usr/bin/python3 bench/summarize.py "$out"
