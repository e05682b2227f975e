#!/usr/bin/env bash
# bench/run.sh [OUT.jsonl]: CPU benchmarks of anneal beside PyTorch 1.13 / NumPy, same
# machine, same run, 2 threads. OPENBLAS_CORETYPE is unset for the reference command
# only, so OpenBLAS uses its best kernel here (never change it in tests or CI).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results.jsonl}
scripts/deps.sh
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF -DANNEAL_BUILD_TESTS=OFF \
  -DANNEAL_BUILD_EXAMPLES=OFF >/dev/null
export ANNEAL_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
: >"$out"
for round in 1 2 3; do
  ./build-bench/bench/cpu_bench | sed "s/}$/,\"round\":$round}/" | tee -a "$out"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference.py | sed "s/}$/, \"round\": $round}/" | tee -a "$out"
done
