// CPU benchmarks of anneal, one JSON line each:
//   gemm_f32 (GFLOP/s) for n = 256..2048, add_f32 / relu_f32 / memcpy on 16M floats (GB/s),
//   op_overhead (µs per small op with autograd recording).
// Thread count: ANNEAL_NUM_THREADS (the run script sets 2).
#include <cstring>
#include <string>

#include "anneal.h"
#include "bench_util.h"

using namespace anneal;

static std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

int main(int argc, char** argv) {
  std::string only = argc > 1 ? argv[1] : "";
  const int threads = get_num_threads();
  auto want = [&](const char* name) { return only.empty() || only == name; };
  if (want("gemm")) {
    for (int64_t n : {256, 512, 1024, 2048}) {
      Tensor a = randn({n, n}), b = randn({n, n});
      double s = bench::median_seconds([&] { mm(a, b); }, n >= 2048 ? 5 : 9, n <= 256 ? 20 : 1);
      bench::emit("{\"bench\":\"gemm_f32\",\"impl\":\"anneal\",\"n\":" + std::to_string(n) + ",\"threads\":" +
                  std::to_string(threads) + ",\"gflops\":" + fmt("%.1f", 2.0 * n * n * n / s / 1e9) + "}");
    }
  }
  const int64_t N = 16 << 20;
  if (want("elementwise")) {
    Tensor a = randn({N}), b = randn({N});
    Tensor out = empty({N});
    double t_copy = bench::median_seconds([&] { std::memcpy(out.data_ptr(), a.data_ptr(), size_t(N) * 4); }, 9);
    double t_add = bench::median_seconds([&] { add(a, b); }, 9);
    double t_relu = bench::median_seconds([&] { relu(a); }, 9);
    double t_clone = bench::median_seconds([&] { a.clone(); }, 9);
    auto gbps = [&](double bytes, double s) { return fmt("%.1f", bytes / s / 1e9); };
    bench::emit("{\"bench\":\"memcpy\",\"impl\":\"libc\",\"numel\":" + std::to_string(N) + ",\"gbps\":" +
                gbps(8.0 * N, t_copy) + "}");
    bench::emit("{\"bench\":\"copy_f32\",\"impl\":\"anneal\",\"numel\":" + std::to_string(N) +
                ",\"threads\":" + std::to_string(threads) + ",\"gbps\":" + gbps(8.0 * N, t_clone) + "}");
    bench::emit("{\"bench\":\"add_f32\",\"impl\":\"anneal\",\"numel\":" + std::to_string(N) + ",\"threads\":" +
                std::to_string(threads) + ",\"gbps\":" + gbps(12.0 * N, t_add) + ",\"ms\":" + fmt("%.2f", t_add * 1e3) + "}");
    bench::emit("{\"bench\":\"relu_f32\",\"impl\":\"anneal\",\"numel\":" + std::to_string(N) + ",\"threads\":" +
                std::to_string(threads) + ",\"gbps\":" + gbps(8.0 * N, t_relu) + ",\"ms\":" + fmt("%.2f", t_relu * 1e3) + "}");
  }
  if (want("overhead")) {
    Tensor x = ones({2, 2}).set_requires_grad(), y = ones({2, 2});
    double s = bench::median_seconds([&] { Tensor z = add(x, y); }, 9, 20000);
    bench::emit("{\"bench\":\"op_overhead\",\"impl\":\"anneal\",\"op\":\"add_2x2_requires_grad\",\"us\":" +
                fmt("%.3f", s * 1e6) + "}");
    Tensor xn = ones({2, 2});
    double s2 = bench::median_seconds([&] { Tensor z = add(xn, y); }, 9, 20000);
    bench::emit("{\"bench\":\"op_overhead\",\"impl\":\"anneal\",\"op\":\"add_2x2\",\"us\":" + fmt("%.3f", s2 * 1e6) + "}");
  }
  return 0;
}
