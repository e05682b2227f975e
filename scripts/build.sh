#!/usr/bin/env bash
# scripts/build.sh DIR [cmake args...]: configures (once) and builds anneal into DIR.
set -euo pipefail
dir=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
export CCACHE_BASEDIR="$root"
# builds with debug info (the sanitizer and fuzz builds) hash the working directory unless
# told not to, so a fresh clone elsewhere recompiled everything (~13 of test.sh's 23 min)
export CCACHE_NOHASHDIR=1
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$root" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
else
  cmake "$dir" "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
fi
cmake --build "$dir" --parallel "$(nproc)"
