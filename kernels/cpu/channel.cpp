// Per-channel reductions and affine maps over [N, C, L]: batch norm in two passes over
// the activations instead of seven.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {

namespace {
// float32 rows accumulate in float (vectorised) over chunks of kChunk values, chunks and
// channels in double; float64 stays double. (One float accumulator over a whole row of
// thousands of values shifts the mean of every element of the channel alike.)
template <typename T> using row_acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;
constexpr int64_t kChunk = 256;

// A double shift as hi + lo in the accumulation type: (x − hi) − lo keeps the digits that
// rounding the shift to float alone would drop from every centred value.
template <typename A> struct Shift {
  A hi = 0, lo = 0;
  Shift() = default;
  explicit Shift(double v) : hi(A(v)), lo(A(v - double(A(v)))) {}
  A centre(A x) const { return (x - hi) - lo; }
};
}  // namespace

void CpuBackend::channel_sums(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                              const Tensor& sum_a, const Tensor& sum_ab) {
  const int64_t N = a.size(0), C = a.size(1), L = a.size(2);
  double* sa = sum_a.data_ptr<double>();
  double* sab = sum_ab.data_ptr<double>();
  const double* ashift = a_shift.defined() ? a_shift.data_ptr<double>() : nullptr;
  const double* shift = b_shift.defined() ? b_shift.data_ptr<double>() : nullptr;
  ANNEAL_DISPATCH_FLOATING(a.dtype(), "channel_sums", [&] {
    using A = row_acc_t<scalar_t>;
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    // parallel over channels; each channel sums its N rows in a fixed order
    parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const Shift<A> sh = shift ? Shift<A>(shift[c]) : Shift<A>();
        const Shift<A> ash = ashift ? Shift<A>(ashift[c]) : Shift<A>();
        double s = 0, s2 = 0;
        for (int64_t n = 0; n < N; ++n) {
          const scalar_t* ra = pa + (n * C + c) * L;
          const scalar_t* rb = pb + (n * C + c) * L;
          for (int64_t i0 = 0; i0 < L; i0 += kChunk) {
            const int64_t i1 = std::min(L, i0 + kChunk);
            A ls = 0, ls2 = 0;
            for (int64_t i = i0; i < i1; ++i) {
              const A x = ash.centre(A(compute_t<scalar_t>(ra[i])));
              ls += x;
              ls2 += x * sh.centre(A(compute_t<scalar_t>(rb[i])));
            }
            s += double(ls);
            s2 += double(ls2);
          }
        }
        sa[c] = s;
        sab[c] = s2;
      }
    });
  });
}

void CpuBackend::channel_affine(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                                const Tensor& ca, const Tensor& cb, const Tensor& c0, const Tensor& out) {
  const int64_t N = a.size(0), C = a.size(1), L = a.size(2);
  const double* ka = ca.data_ptr<double>();
  const double* ashift = a_shift.defined() ? a_shift.data_ptr<double>() : nullptr;
  const double* bshift = b_shift.defined() ? b_shift.data_ptr<double>() : nullptr;
  const double* kb = b.defined() ? cb.data_ptr<double>() : nullptr;
  const double* k0 = c0.data_ptr<double>();
  ANNEAL_DISPATCH_FLOATING(a.dtype(), "channel_affine", [&] {
    using A = row_acc_t<scalar_t>;
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    scalar_t* po = out.data_ptr<scalar_t>();
    parallel_for(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(L, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % C;
        const A fa = A(ka[c]), f0 = A(k0[c]);
        const Shift<A> sa = ashift ? Shift<A>(ashift[c]) : Shift<A>();
        const scalar_t* ra = pa + r * L;
        scalar_t* ro = po + r * L;
        if (pb) {
          const A fb = A(kb[c]);
          const Shift<A> sb = bshift ? Shift<A>(bshift[c]) : Shift<A>();
          const scalar_t* rb = pb + r * L;
          for (int64_t i = 0; i < L; ++i) {
            const A va = sa.centre(A(compute_t<scalar_t>(ra[i]))), vb = sb.centre(A(compute_t<scalar_t>(rb[i])));
            ro[i] = scalar_t(va * fa + vb * fb + f0);
          }
        } else {
          for (int64_t i = 0; i < L; ++i) {
            const A va = sa.centre(A(compute_t<scalar_t>(ra[i])));
            ro[i] = scalar_t(va * fa + f0);
          }
        }
      }
    });
  });
}

}  // namespace anneal::cpu
