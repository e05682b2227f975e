#!/usr/bin/env bash
# The main job: installs what is needed, builds anneal (with the CUDA backend when nvcc
# is present) and runs the demo training job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DANNEAL_BUILD_TESTS=OFF -DANNEAL_BUILD_BENCH=OFF
./build/examples/autograd_demo
