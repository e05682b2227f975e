#include "core/philox.h"
#include "kernels/cpu/cpu_backend.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {

void CpuBackend::arange(const Tensor& out, double start, double step) {
  ANNEAL_DISPATCH_NUMERIC(out.dtype(), "arange", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    parallel_for(out.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = scalar_t(compute_t<scalar_t>(start + double(i) * step));
    });
  });
}

void CpuBackend::random_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  ANNEAL_DISPATCH_FLOATING(out.dtype(), "uniform_", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    parallel_for(out.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if constexpr (std::is_same_v<scalar_t, double>) {
          // two words per double: element i uses lanes (2*(i%2), 2*(i%2)+1) of block i/2
          philox::U32x4 r = philox::philox4x32_10(offset + uint64_t(i) / 2, seed);
          int l = int(i % 2) * 2;
          o[i] = lo + (hi - lo) * philox::to_unit_double(r.v[l], r.v[l + 1]);
        } else {
          float u = philox::uniform_at(seed, offset, i);
          o[i] = scalar_t(float(lo + (hi - lo) * double(u)));
        }
      }
    });
  });
}

void CpuBackend::random_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  ANNEAL_DISPATCH_FLOATING(out.dtype(), "normal_", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    parallel_for(out.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        o[i] = scalar_t(compute_t<scalar_t>(mean + std * double(philox::normal_at(seed, offset, i))));
    });
  });
}

}  // namespace anneal::cpu
