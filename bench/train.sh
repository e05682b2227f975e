#!/usr/bin/env bash
# bench/train.sh [ROUNDS] [WORKLOAD...]: training throughput of the mlp, cnn and char_gpt
# workloads, anneal beside PyTorch 1.13 at its best on this CPU, interleaved round by
# round (at least 3), each run in its own process. bench/train_driver.py measures the
# reference's configuration (OpenBLAS core type, ATen vector width, formulation), watches
# the machine's load during each run, and prints JSON lines on stdout and a table of
# medians and per-round ratios on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
# the reference's BLAS and allocator: without them PyTorch falls back to Debian's
# reference BLAS (~100x slower GEMM) and glibc malloc, and the comparison means nothing
scripts/deps.sh libopenblas0-openmp libjemalloc2
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF -DANNEAL_BUILD_TESTS=OFF \
  -DANNEAL_BUILD_EXAMPLES=OFF -DANNEAL_PYTHON=OFF >/dev/null
export ANNEAL_NUM_THREADS=2 OMP_NUM_THREADS=2
exec /usr/bin/python3 bench/train_driver.py ./build-bench/bench/train_bench "$rounds" "$@"
