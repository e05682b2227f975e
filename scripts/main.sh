#!/usr/bin/env bash
# The main job: installs what is needed (Debian's Fashion-MNIST included), builds anneal
# (with the CUDA backend when nvcc is present) and trains the Fashion-MNIST CNN; the
# last line printed is the test accuracy. Extra arguments go to the example
# (e.g. --epochs 3, --model mlp, --run-dir runs/fmnist to keep metrics and resume).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/data.sh  # the apt dependencies and the datasets
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DANNEAL_BUILD_TESTS=OFF -DANNEAL_BUILD_BENCH=OFF
exec ./build/examples/fashion_mnist "$@"
