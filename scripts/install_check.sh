#!/usr/bin/env bash
# scripts/install_check.sh BUILD_DIR: installs BUILD_DIR into a scratch prefix and builds
# examples/consumer against it with find_package(anneal), then runs it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$root/examples/consumer" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
echo "install check: find_package(anneal) works"
