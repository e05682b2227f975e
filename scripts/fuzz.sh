#!/usr/bin/env bash
# scripts/fuzz.sh [RUNS]: builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/)
# and runs each over a copy of its seed corpus (tests/fuzz/corpus/<target>) for RUNS
# inputs (default 20000; a fixed count, so the result does not depend on the machine's
# speed) with a fixed seed, after replaying the committed regression inputs
# (tests/fuzz/regressions/<target>). Any crash, sanitizer report, leak, timeout (10 s per
# input) or allocation over 1 GiB fails; the input is left in build-fuzz/findings/.
#
# A longer run for developers: FUZZ_SECONDS=600 scripts/fuzz.sh 0  (0 runs = no limit)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
seconds=${FUZZ_SECONDS:-0}
scripts/deps.sh clang-14 libclang-rt-14-dev libomp-14-dev
if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 is missing (deps.sh installs clang-14 and libclang-rt-14-dev)"; exit 1
fi
export CCACHE_BASEDIR="$PWD"
# builds with debug info (the sanitizer and fuzz builds) hash the working directory unless
# told not to, so a fresh clone elsewhere recompiled everything (~13 of test.sh's 23 min)
export CCACHE_NOHASHDIR=1
# One clang tree with ASan + UBSan serves the fuzzers and scripts/test.sh's sanitizer run of
# the test suite (ANNEAL_SANITIZE, tests on): the library is compiled once for both.
# FUZZ_TESTS=OFF leaves the tests out for a quicker fuzzing-only build.
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANNEAL_CUDA=OFF \
  -DANNEAL_FUZZ=ON -DANNEAL_SANITIZE=ON -DANNEAL_BUILD_TESTS="${FUZZ_TESTS:-ON}" -DANNEAL_PYTHON=OFF \
  -DANNEAL_BUILD_EXAMPLES=OFF -DANNEAL_BUILD_BENCH=OFF >build-fuzz.configure.log 2>&1 ||
  { cat build-fuzz.configure.log; exit 1; }
cmake --build build-fuzz --parallel "$(nproc)"
targets=$(sed -n 's/^set(ANNEAL_FUZZ_TARGETS \(.*\))$/\1/p' tests/fuzz/CMakeLists.txt)
mkdir -p build-fuzz/findings
status=0
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1
for t in $targets; do
  bin=build-fuzz/tests/fuzz/fuzz_$t
  if [ -d tests/fuzz/regressions/$t ]; then
    "$bin" tests/fuzz/regressions/$t/* >build-fuzz/findings/$t.regressions.log 2>&1 ||
      { echo "fuzz: $t: a committed regression input fails again"; tail -30 build-fuzz/findings/$t.regressions.log; status=1; }
  fi
  work=build-fuzz/corpus/$t
  rm -rf "$work"; mkdir -p "$work"
  cp tests/fuzz/corpus/$t/* "$work"/
  log=build-fuzz/findings/$t.log
  start=$(date +%s)
  if "$bin" -runs="$runs" -max_total_time="$seconds" -seed=1 -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=1024 \
      -artifact_prefix=build-fuzz/findings/$t- "$work" >"$log" 2>&1; then
    echo "fuzz: $t: $(grep -aoE 'Done [0-9]+ runs' "$log" | tail -1), no finding ($(( $(date +%s) - start )) s)"
  else
    echo "fuzz: $t: FINDING (input in build-fuzz/findings/$t-*)"; grep -aE "ERROR|runtime error|SUMMARY" "$log" | head -5
    status=1
  fi
done
exit $status
