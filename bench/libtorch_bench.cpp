// The reference for anneal's per-op overhead: the same small ops through libtorch's C++
// API (Debian's libtorch-dev 1.13), one JSON line each.
#include <torch/torch.h>

#include "bench_util.h"

int main() {
  torch::set_num_threads(2);
  auto x = torch::ones({2, 2}, torch::requires_grad());
  auto y = torch::ones({2, 2});
  double s = bench::median_seconds([&] { auto z = torch::add(x, y); }, 9, 20000);
  bench::emit("{\"bench\":\"op_overhead\",\"impl\":\"libtorch\",\"op\":\"add_2x2_requires_grad\",\"us\":" +
              std::to_string(s * 1e6) + "}");
  auto xn = torch::ones({2, 2});
  double s2 = bench::median_seconds([&] { auto z = torch::add(xn, y); }, 9, 20000);
  bench::emit("{\"bench\":\"op_overhead\",\"impl\":\"libtorch\",\"op\":\"add_2x2\",\"us\":" + std::to_string(s2 * 1e6) + "}");
  return 0;
}
