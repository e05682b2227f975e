// GPU kernel throughput, one JSON line per case: GEMM TFLOP/s (float32, bfloat16) and the
// memory bandwidth of copy, add, softmax, layer_norm and cross_entropy on large tensors.
// bench/gpu_reference.py measures the same cases with PyTorch on the same card.
//   gpu_bench [--quick] [--elementwise]   (--elementwise: only the elementwise kernels)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "anneal.h"
#include "runtime/env.h"
#include "bench_util.h"

using namespace anneal;

namespace {

double ms_per_call(const std::function<void()>& f, int inner) {
  return 1e3 * bench::median_seconds(
                   [&] {
                     f();
                     cuda_synchronize();
                   },
                   5, inner);
}

void emit(const std::string& name, double ms, const char* unit, double value) {
  // ANNEAL_CUDA_VECTORIZE=0 runs the elementwise kernels without 16-byte loads: tagged so
  // the two runs sit side by side
  const char* impl = env_switch("ANNEAL_CUDA_VECTORIZE", true) ? "anneal" : "anneal-novec";
  char line[256];
  std::snprintf(line, sizeof line, "{\"bench\": \"gpu\", \"impl\": \"%s\", \"case\": \"%s\", \"ms\": %.4f, \"%s\": %.1f}",
                impl, name.c_str(), ms, unit, value);
  bench::emit(line);
}

void gemms(const Device& gpu, bool quick) {
  for (DType dt : {DType::Float32, DType::BFloat16}) {
    for (int64_t n : {int64_t(4096), int64_t(8192)}) {
      if (quick && n > 4096) continue;
      Tensor a = randn({n, n}, TensorOptions(DType::Float32, gpu)).to(dt), b = randn({n, n}, TensorOptions(DType::Float32, gpu)).to(dt);
      const double ms = ms_per_call([&] { (void)matmul(a, b); }, 3);
      emit(str("matmul_", dtype_name(dt), "_", n), ms, "tflops", 2.0 * double(n) * double(n) * double(n) / (ms * 1e9));
    }
  }
  const int64_t n = quick ? 4096 : 8192;
  Tensor a = randn({n, n}, TensorOptions(DType::Float32, gpu)), b = randn({n, n}, TensorOptions(DType::Float32, gpu));
  cuda_set_allow_tf32(true);
  const double ms = ms_per_call([&] { (void)matmul(a, b); }, 3);
  cuda_set_allow_tf32(false);
  emit(str("matmul_tf32_", n), ms, "tflops", 2.0 * double(n) * double(n) * double(n) / (ms * 1e9));
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda_is_available()) {
    std::fprintf(stderr, "gpu_bench: no CUDA device (built with CUDA: %s)\n", cuda_is_built() ? "yes" : "no");
    return 2;
  }
  bool quick = false, elementwise_only = false;
  for (int i = 1; i < argc; ++i) {
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
    elementwise_only = elementwise_only || std::strcmp(argv[i], "--elementwise") == 0;
  }
  try {
    const Device gpu("cuda:0");
    NoGradGuard ng;
    if (!elementwise_only) gemms(gpu, quick);
    const int64_t rows = 8192, cols = quick ? 4096 : 8192;
    Tensor x = randn({rows, cols}, TensorOptions(DType::Float32, gpu)), y = randn({rows, cols}, TensorOptions(DType::Float32, gpu));
    const double bytes = double(rows * cols) * 4.0;
    double ms = ms_per_call([&] { (void)x.clone(); }, 10);
    emit("copy_f32", ms, "gbps", 2 * bytes / (ms * 1e6));
    ms = ms_per_call([&] { (void)(x + y); }, 10);
    emit("add_f32", ms, "gbps", 3 * bytes / (ms * 1e6));
    ms = ms_per_call([&] { (void)(x * 2.0); }, 10);
    emit("mul_scalar_f32", ms, "gbps", 2 * bytes / (ms * 1e6));
    ms = ms_per_call([&] { (void)gelu(x); }, 10);
    emit("gelu_f32", ms, "gbps", 2 * bytes / (ms * 1e6));
    Tensor xb = x.to(DType::BFloat16), yb = y.to(DType::BFloat16);
    ms = ms_per_call([&] { (void)(xb + yb); }, 10);
    emit("add_bf16", ms, "gbps", 3 * bytes / 2 / (ms * 1e6));
    if (elementwise_only) return 0;
    ms = ms_per_call([&] { (void)softmax(x, -1); }, 10);
    emit("softmax_f32", ms, "gbps", 2 * bytes / (ms * 1e6));
    Tensor w = ones({cols}, TensorOptions(DType::Float32, gpu)), bias = zeros({cols}, TensorOptions(DType::Float32, gpu));
    ms = ms_per_call([&] { (void)layer_norm(x, {cols}, w, bias); }, 10);
    emit("layer_norm_f32", ms, "gbps", 2 * bytes / (ms * 1e6));
    Tensor target = randint(0, cols, {rows}, TensorOptions(DType::Int64, gpu));
    ms = ms_per_call([&] { (void)cross_entropy(x, target); }, 10);
    emit("cross_entropy_f32", ms, "gbps", bytes / (ms * 1e6));
  } catch (const Error& e) {
    std::fprintf(stderr, "gpu_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
