#!/usr/bin/env bash
# The one prepared GPU check (H100/H200, sm_90). Two halves:
#
#   scripts/gpu-check.sh --prepare   here, before the call: copies the build dependencies
#                                    the GPU image lacks (Eigen, GoogleTest, zlib headers
#                                    and static libraries) into .deps/ (git-ignored).
#   scripts/gpu-check.sh             on the GPU machine, with .deps carried: builds with
#                                    CUDA for sm_90, runs the GPU tests and the CPU suite,
#                                    and writes the logs and a summary to $OUT (or ./out).
#
# device run: command "scripts/gpu-check.sh", carry [".deps"], timeout_s ~480.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = "--prepare" ]; then
  rm -rf .deps && mkdir -p .deps/include .deps/lib .deps/share
  cp -r /usr/include/eigen3 .deps/include/
  cp -r /usr/share/eigen3 .deps/share/
  cp -r /usr/include/gtest .deps/include/
  cp /usr/lib/x86_64-linux-gnu/libgtest.a /usr/lib/x86_64-linux-gnu/libgtest_main.a .deps/lib/
  cp /usr/include/zlib.h /usr/include/zconf.h .deps/include/
  cp /usr/lib/x86_64-linux-gnu/libz.a .deps/lib/
  # header-only libraries the build finds by their CMake configs (nlohmann-json, CLI11)
  mkdir -p .deps/share/cmake
  cp -r /usr/include/nlohmann /usr/include/CLI .deps/include/
  cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 .deps/share/cmake/
  # nccl.h (the NCCL backend compiles against it; the library comes from the image)
  mkdir -p .deps/nccl/include && cp /usr/local/cuda/include/nccl.h .deps/nccl/include/
  # cuDNN headers, in case the GPU image's cuDNN (a pip package) comes without them
  mkdir -p .deps/cudnn/include && cp /usr/local/cuda/include/cudnn*.h .deps/cudnn/include/
  # Fashion-MNIST (~30 MB), for the main job on the GPU
  [ -d /usr/share/datasets/fashion-mnist ] && cp -r /usr/share/datasets/fashion-mnist .deps/
  [ -f datasets/kjv.txt ] && cp datasets/kjv.txt .deps/  # (scripts/data.sh writes it)
  grep -qx '/.deps/' .git/info/exclude 2>/dev/null || echo '/.deps/' >>.git/info/exclude
  du -sh .deps
  exit 0
fi

out=${OUT:-$root/out}
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
log() { echo "$*" | tee -a "$summary"; }

log "== machine"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; nvcc --version | tail -1;
  ldd --version | head -1; } 2>&1 | tee -a "$summary"

# a Python with torch and numpy writes the golden test values (the image has one)
py=""
for cand in /opt/torch/.venv/bin/python /usr/bin/python3 "$(command -v python3)"; do
  if [ -x "$cand" ] && "$cand" -c 'import torch, numpy' 2>/dev/null; then py=$cand; break; fi
done
log "python for golden values: ${py:-none found}"

# cuDNN: the toolkit's if it has one, else the pip package beside PyTorch (its libraries
# must be on LD_LIBRARY_PATH: libcudnn loads its parts at run time).
cudnn_args=()
if [ -n "$py" ]; then
  cudnn_root=$("$py" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  if [ -n "$cudnn_root" ] && [ -d "$cudnn_root/lib" ]; then
    cudnn_args+=(-DCUDNN_ROOT="$cudnn_root")
    [ -f "$cudnn_root/include/cudnn.h" ] || cudnn_args+=(-DCUDNN_INCLUDE_DIR="$root/.deps/cudnn/include")
    export LD_LIBRARY_PATH="$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi
log "cuDNN: ${cudnn_args[*]:-toolkit or none}"
# NCCL: the pip package beside PyTorch (loaded at run time from LD_LIBRARY_PATH)
if [ -n "$py" ]; then
  nccl_root=$("$py" -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  [ -n "$nccl_root" ] && [ -d "$nccl_root/lib" ] && export LD_LIBRARY_PATH="$nccl_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
log "NCCL library folder: ${nccl_root:-none found (the NCCL tests skip)}"

log "== configure + build (CUDA, sm_90)"
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DANNEAL_BUILD_BENCH=ON -DANNEAL_TEST_PYTHON="$py" -DANNEAL_PYTHON=OFF -DANNEAL_PROTOBUF=OFF \
  -DCMAKE_PREFIX_PATH="$root/.deps" -DEigen3_DIR="$root/.deps/share/eigen3/cmake" \
  -DGTEST_ROOT="$root/.deps" -DZLIB_ROOT="$root/.deps" -DZLIB_USE_STATIC_LIBS=ON \
  -DEIGEN3_INCLUDE_DIR="$root/.deps/include/eigen3" -DNCCL_ROOT="$root/.deps/nccl" "${cudnn_args[@]}" >"$out/configure.log" 2>&1
build_rc=$?
if [ $build_rc -eq 0 ]; then
  cmake --build build-gpu --parallel "$(nproc)" >"$out/build.log" 2>&1
  build_rc=$?
fi
log "build: rc=$build_rc in $(( $(date +%s) - start )) s; $(grep -o 'anneal: cuDNN.*' "$out/configure.log")"
if [ $build_rc -ne 0 ]; then
  tail -30 "$out/configure.log" "$out/build.log" 2>/dev/null | tee -a "$summary"
  exit 1
fi

log "== GPU tests (fresh device memory poisoned with NaN bytes)"
ANNEAL_CUDA_POISON=1 timeout 240 ./build-gpu/tests/anneal_cuda_tests >"$out/gpu_tests.log" 2>&1
log "gpu tests: rc=$? $(grep -E '^\[  (PASSED|FAILED|SKIPPED) *\] [0-9]+ test' "$out/gpu_tests.log" | tr '\n' ' ')"
grep -E '^\[  FAILED  \] [A-Za-z]' "$out/gpu_tests.log" | sort -u | head -40 | tee -a "$summary"

log "== GPU benchmarks (anneal, then PyTorch on the same card)"
timeout 120 ./build-gpu/bench/gpu_bench >"$out/gpu_bench.jsonl" 2>"$out/gpu_bench.err" || log "gpu_bench rc=$? $(tail -1 "$out/gpu_bench.err")"
ANNEAL_CUDA_VECTORIZE=0 timeout 60 ./build-gpu/bench/gpu_bench --elementwise >>"$out/gpu_bench.jsonl" 2>>"$out/gpu_bench.err"
[ -n "$py" ] && timeout 120 "$py" bench/gpu_reference.py >>"$out/gpu_bench.jsonl" 2>"$out/gpu_reference.err"
for w in mlp cnn char_gpt gpt2; do
  timeout 150 ./build-gpu/bench/train_bench "$w" --device cuda:0 >>"$out/train_gpu.jsonl" 2>>"$out/train_gpu.err" ||
    log "train_bench $w rc=$? $(tail -1 "$out/train_gpu.err")"
  [ -n "$py" ] && timeout 150 "$py" bench/train_reference.py "$w" --device cuda:0 >>"$out/train_gpu.jsonl" 2>>"$out/train_gpu.err"
done
timeout 150 ./build-gpu/bench/train_bench gpt2 --device cuda:0 --autocast >>"$out/train_gpu.jsonl" 2>>"$out/train_gpu.err" ||
  log "train_bench gpt2 --autocast rc=$? $(tail -1 "$out/train_gpu.err")"
[ -n "$py" ] && timeout 150 "$py" bench/train_reference.py gpt2 --device cuda:0 --autocast >>"$out/train_gpu.jsonl" 2>>"$out/train_gpu.err"
for w in mlp cnn; do  # the whole step as one CUDA graph replay
  timeout 120 ./build-gpu/bench/train_bench "$w" --device cuda:0 --graph >>"$out/train_gpu.jsonl" 2>>"$out/train_gpu.err" ||
    log "train_bench $w --graph rc=$? $(tail -1 "$out/train_gpu.err")"
done
cat "$out/gpu_bench.jsonl" "$out/train_gpu.jsonl" | tee -a "$summary"

log "== CPU suite on the GPU machine"
(cd build-gpu && timeout 150 ctest -j "$(nproc)" -E "CudaOps|CudaTraining|CudaGraphs|Cuda\\." >"$out/ctest.log" 2>&1)
log "ctest: rc=$? $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1)"

log "== the main job on the GPU (1 epoch), then a short CPU run for the record"
data="$root/.deps/fashion-mnist"
[ -d "$data" ] || data=/usr/share/datasets/fashion-mnist
timeout 120 ./build-gpu/examples/fashion_mnist --epochs 1 --device cuda:0 --data "$data" >"$out/fashion_mnist_gpu.log" 2>&1 ||
  log "fashion_mnist on cuda:0 rc=$? $(grep -E '^fashion_mnist:' "$out/fashion_mnist_gpu.log" | tail -1)"
tail -2 "$out/fashion_mnist_gpu.log" | tee -a "$summary"
if [ -f "$root/.deps/kjv.txt" ]; then  # the char GPT on the GPU under bf16 autocast (flash attention, fused loss)
  timeout 90 ./build-gpu/examples/char_lm --data "$root/.deps/kjv.txt" --steps 300 --eval-every 300 --device cuda:0 \
    --amp bf16 --sample 100 >"$out/char_lm_gpu.log" 2>&1 || log "char_lm on cuda:0 rc=$? $(grep -E '^char_lm:' "$out/char_lm_gpu.log" | tail -1)"
  tail -1 "$out/char_lm_gpu.log" | tee -a "$summary"
fi
ANNEAL_NUM_THREADS="$(nproc)" timeout 60 ./build-gpu/examples/fashion_mnist --epochs 1 --limit 12000 --device cpu \
  --data "$data" >"$out/fashion_mnist.log" 2>&1 || log "fashion_mnist on the CPU rc=$? $(grep -E '^fashion_mnist:' "$out/fashion_mnist.log" | tail -1)"
tail -2 "$out/fashion_mnist.log" | tee -a "$summary"
echo "logs: $out"
