#!/usr/bin/env bash
# Builds and runs every test: the CPU build (C++ tests and the Python package's pytest
# suite, with the Python API fuzzer), the CUDA-enabled build (compiled and linked whenever
# nvcc exists; GPU tests run only where a GPU is), the libFuzzer targets, and a sanitizer
# build.
set -euo pipefail
cd "$(dirname "$0")/.."
# the multi-process tests start ranks with mpirun and srun too; the registry tests start a
# PostgreSQL server, the page's tests drive Chromium
scripts/deps.sh openmpi-bin slurmctld slurmd slurm-client munge postgresql chromium
jobs=$(nproc)
status=0
# each stage's start, as minutes:seconds since the script began (where the time goes)
stage() { printf '== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

stage "CPU build"
scripts/build.sh build-test -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF
(cd build-test && ctest --output-on-failure -j "$jobs") || status=1
stage "install and find_package(anneal) from another project"
scripts/install_check.sh build-test || status=1

if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  stage "CUDA-enabled build"
  scripts/build.sh build-cuda -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  # the GPU suite (it skips without a device) and the training tests; the rest of the CPU
  # suite already ran above and gains nothing from the CUDA backend being linked in (so the
  # Python suite leaves out its CPU-only PyTorch-program comparisons here)
  (cd build-cuda && ANNEAL_CPU_SUITE_DONE=1 ctest --output-on-failure -j "$jobs" \
    -R "Cuda|Training|DataLoader|python_tests") || status=1
else
  stage "CUDA-enabled build skipped: no nvcc on this machine"
fi

stage "fuzzers: every reader and parser, 50,000 inputs each (libFuzzer, ASan + UBSan)"
# (its clang tree, build-fuzz, also builds the tests with ASan + UBSan for the next stage)
scripts/fuzz.sh 50000 || status=1

stage "AddressSanitizer + UndefinedBehaviorSanitizer: the test suite in the fuzzers' tree"
# (the Python package is left out: an instrumented extension needs the sanitizer runtime
# preloaded into the interpreter)
(cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs") || status=1

stage "done (status $status)"
exit $status
