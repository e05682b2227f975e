#!/usr/bin/env bash
# The main job: installs what is needed (Debian's Fashion-MNIST included), builds anneal
# (with the CUDA backend when a GPU is visible) and runs examples/jobs/fashion_mnist.yaml
# with `anneal run`: the Fashion-MNIST CNN, recorded as a run under runs/ (see it with
# `build/anneal runs list` or `build/anneal ui`); the last line printed is the test
# accuracy. Extra arguments go to `anneal run` (e.g. --set epochs=3, --set model.name=mlp,
# --set device=cpu, --name first-try).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/data.sh  # the apt dependencies and the datasets
# The CUDA backend only where a GPU is visible (or ANNEAL_CUDA=ON asks for it): compiling
# it for a machine that cannot run it is most of a first build's time.
cuda=OFF
if [ -e /dev/nvidia0 ] || { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then cuda=AUTO; fi
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DANNEAL_BUILD_TESTS=OFF -DANNEAL_BUILD_BENCH=OFF \
  -DANNEAL_CUDA="${ANNEAL_CUDA:-$cuda}"
exec ./build/anneal run examples/jobs/fashion_mnist.yaml "$@"
