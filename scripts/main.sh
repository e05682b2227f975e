#!/usr/bin/env bash
# The main job: installs what is needed (Debian's Fashion-MNIST included), builds anneal
# (with the CUDA backend when a GPU is visible) and trains the Fashion-MNIST CNN; the
# last line printed is the test accuracy. Extra arguments go to the example
# (e.g. --epochs 3, --model mlp, --run-dir runs/fmnist to keep metrics and resume).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/data.sh  # the apt dependencies and the datasets
# The CUDA backend only where a GPU is visible (or ANNEAL_CUDA=ON asks for it): compiling
# it for a machine that cannot run it is most of a first build's time.
cuda=OFF
if [ -e /dev/nvidia0 ] || { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then cuda=AUTO; fi
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DANNEAL_BUILD_TESTS=OFF -DANNEAL_BUILD_BENCH=OFF \
  -DANNEAL_CUDA="${ANNEAL_CUDA:-$cuda}"
exec ./build/examples/fashion_mnist "$@"
