// Per-channel sums and affine maps (batch norm's fused passes) on the GPU, with
// kernels/cpu/channel.cpp's contract; partial sums in double, combined in a fixed order.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

template <typename T> using acc_of = std::conditional_t<std::is_same_v<T, double>, double, float>;

// A double shift as hi + lo in the accumulation type (kernels/cpu/channel.cpp's Shift):
// (x − hi) − lo keeps the digits that rounding the shift to float alone would drop.
template <typename A> struct Shift {
  A hi, lo;
  __device__ explicit Shift(const double* v, int64_t c) : hi(v ? A(v[c]) : A(0)), lo(v ? A(v[c] - double(hi)) : A(0)) {}
  __device__ A centre(A x) const { return (x - hi) - lo; }
};

// One block per channel: sum_a[c] = Σ (a − ashift[c]), sum_ab[c] = Σ (a − ashift[c])·(b −
// shift[c]); partials in double, combined in a fixed order (deterministic).
template <typename T>
__global__ void channel_sums_kernel(const T* a, const double* ashift, const T* b, const double* shift, double* sum_a,
                                    double* sum_ab, int64_t N, int64_t C, int64_t L) {
  using A = acc_of<T>;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const Shift<A> sh(shift, c), ash(ashift, c);
    double s = 0, s2 = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* ra = a + (n * C + c) * L;
      const T* rb = b + (n * C + c) * L;
      A ls = 0, ls2 = 0;
      for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
        const A v = ash.centre(A(load_c<T>(ra[i])));
        ls += v;
        ls2 += v * sh.centre(A(load_c<T>(rb[i])));
      }
      s += double(ls);
      s2 += double(ls2);
    }
    auto add = [] __device__(double u, double v) { return u + v; };
    s = block_reduce(s, add, 0.0);
    s2 = block_reduce(s2, add, 0.0);
    if (threadIdx.x == 0) sum_a[c] = s, sum_ab[c] = s2;
  }
}

template <typename T>
__global__ void channel_affine_kernel(const T* a, const double* ashift, const T* b, const double* bshift,
                                      const double* ka, const double* kb, const double* k0, T* out, int64_t C,
                                      int64_t L, int64_t total) {
  using A = acc_of<T>;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (p / L) % C;
    A v = Shift<A>(ashift, c).centre(A(load_c<T>(a[p]))) * A(ka[c]) + A(k0[c]);
    if (b) v += Shift<A>(bshift, c).centre(A(load_c<T>(b[p]))) * A(kb[c]);
    out[p] = store_c<T>(v);
  }
}


template <typename T>
void channel_sums_impl(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                       const Tensor& sum_a, const Tensor& sum_ab) {
  const int64_t N = a.size(0), C = a.size(1), L = a.size(2);
  if (C == 0) return;
  channel_sums_kernel<T><<<unsigned(C < 65535 ? C : 65535), kThreads, 0, current_stream()>>>(
      ptr<T>(a), a_shift.defined() ? ptr<double>(a_shift) : nullptr, ptr<T>(b),
      b_shift.defined() ? ptr<double>(b_shift) : nullptr, ptr<double>(sum_a), ptr<double>(sum_ab), N, C, L);
  check_launch("channel_sums");
}

template <typename T>
void channel_affine_impl(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                         const Tensor& ca, const Tensor& cb, const Tensor& c0, const Tensor& out) {
  const int64_t C = a.size(1), L = a.size(2), total = a.numel();
  if (total == 0) return;
  channel_affine_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(
      ptr<T>(a), a_shift.defined() ? ptr<double>(a_shift) : nullptr, b.defined() ? ptr<T>(b) : nullptr, b.defined() && b_shift.defined() ? ptr<double>(b_shift) : nullptr,
      ptr<double>(ca), b.defined() ? ptr<double>(cb) : nullptr, ptr<double>(c0), ptr<T>(out), C, L, total);
  check_launch("channel_affine");
}


}  // namespace

void CudaBackend::channel_sums(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                               const Tensor& sum_a, const Tensor& sum_ab) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(a.dtype(), "channel_sums",
                                (channel_sums_impl<T>(a, a_shift, b, b_shift, sum_a, sum_ab)));
}
void CudaBackend::channel_affine(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                                 const Tensor& ca, const Tensor& cb, const Tensor& c0, const Tensor& out) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(a.dtype(), "channel_affine",
                                (channel_affine_impl<T>(a, a_shift, b, b_shift, ca, cb, c0, out)));
}

}  // namespace anneal::cuda
