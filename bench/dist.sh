#!/usr/bin/env bash
# bench/dist.sh [ROUNDS]: distributed benchmarks, anneal beside PyTorch 1.13's
# torch.distributed on Gloo, two processes on this machine (one thread each), interleaved
# round by round: float32 all-reduce bus bandwidth (1 KiB .. 64 MiB, as nccl-tests
# defines it), DDP training steps for the MLP and the CNN with bucket overlap on and off
# and without communication, and DDP's overhead at world size 1. JSON lines on stdout, a
# table of medians on stderr. PyTorch runs at its best here (OpenMP OpenBLAS, jemalloc).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
scripts/deps.sh
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF -DANNEAL_BUILD_TESTS=OFF \
  -DANNEAL_BUILD_EXAMPLES=OFF -DANNEAL_PYTHON=OFF >/dev/null
env_json='{"MALLOC_CONF": "oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1"'
openblas_omp=/usr/lib/x86_64-linux-gnu/openblas-openmp
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -d "$openblas_omp" ] && env_json+=", \"LD_LIBRARY_PATH\": \"$openblas_omp\""
[ -f "$jemalloc" ] && env_json+=", \"LD_PRELOAD\": \"$jemalloc\""
grep -q avx512f /proc/cpuinfo && env_json+=', "OPENBLAS_CORETYPE": "SkylakeX"'
env_json+='}'
ANNEAL_TORCH_ENV="$env_json" /usr/bin/python3 bench/dist_driver.py build-bench/bench/dist_bench "$rounds"
