// Convolution helpers (im2col / col2im), max pooling and the per-channel batch-norm
// kernels, with the CPU backend's contracts (kernels/cpu/{conv,pool,channel}.cpp).
// col2im gathers per input pixel (a fixed order, no atomics); pooling's backward adds by
// index with atomics, since overlapping windows may pick the same pixel.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

struct Geo {  // Conv2dGeometry plus the image sizes, by value into kernels
  int64_t C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
};
Geo geo(int64_t C, int64_t H, int64_t W, const Conv2dGeometry& g) {
  return {C, H, W, g.out_h(H), g.out_w(W), g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
}

// cols [N, C*kh*kw, OH*OW]: one thread per column entry
template <typename T>
__global__ void im2col_kernel(const T* x, T* cols, Geo g, int64_t total, T pad) {
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = p % g.OW, oh = (p / g.OW) % g.OH;
    const int64_t k = (p / (g.OW * g.OH)) % (g.kh * g.kw), nc = p / (g.OW * g.OH * g.kh * g.kw);
    const int64_t ki = k / g.kw, kj = k % g.kw;
    const int64_t ih = oh * g.sh - g.ph + ki * g.dh, iw = ow * g.sw - g.pw + kj * g.dw;
    cols[p] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? x[(nc * g.H + ih) * g.W + iw] : pad;
  }
}

// out [N, C, H, W]: each pixel sums the column entries that read it, in (ki, kj) order
template <typename T>
__global__ void col2im_kernel(const T* cols, T* out, Geo g, int64_t total) {
  using C = compute_of<T>;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = p % g.W, ih = (p / g.W) % g.H, nc = p / (g.W * g.H);
    const T* src = cols + nc * g.kh * g.kw * g.OH * g.OW;
    C acc = 0;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t th = ih + g.ph - ki * g.dh;
      if (th < 0 || th % g.sh != 0 || th / g.sh >= g.OH) continue;
      const int64_t oh = th / g.sh;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t tw = iw + g.pw - kj * g.dw;
        if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.OW) continue;
        acc += load_c<T>(src[((ki * g.kw + kj) * g.OH + oh) * g.OW + tw / g.sw]);
      }
    }
    out[p] = store_c<T>(acc);
  }
}

// One thread per output: the first strictly greater value wins, a NaN wins at its first
// position, padding never wins.
template <typename T>
__global__ void max_pool_kernel(const T* x, T* out, int64_t* indices, Geo g, int64_t total) {
  using C = compute_of<T>;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = p % g.OW, oh = (p / g.OW) % g.OH, nc = p / (g.OW * g.OH);
    const T* plane = x + nc * g.H * g.W;
    C best = 0;
    int64_t best_i = -1;
    bool found_nan = false;
    for (int64_t ki = 0; ki < g.kh && !found_nan; ++ki) {
      const int64_t ih = oh * g.sh - g.ph + ki * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t iw = ow * g.sw - g.pw + kj * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        const int64_t pos = ih * g.W + iw;
        const C v = load_c<T>(plane[pos]);
        if (v != v) {
          best = v, best_i = pos, found_nan = true;
          break;
        }
        if (best_i < 0 || v > best) best = v, best_i = pos;
      }
    }
    out[p] = store_c<T>(best);
    indices[p] = best_i;
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(const T* grad_out, const int64_t* indices, T* grad_in, int64_t L, int64_t HW,
                                         int64_t total) {
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = indices[p];
    if (j < 0) continue;
    T* dst = grad_in + (p / L) * HW + j;
    if constexpr (std::is_same_v<T, int64_t>) atomicAdd(reinterpret_cast<unsigned long long*>(dst), (unsigned long long)grad_out[p]);
    else atomicAdd(dst, grad_out[p]);
  }
}

template <typename T> using acc_of = std::conditional_t<std::is_same_v<T, double>, double, float>;

// One block per channel: sum_a[c] = Σ a, sum_ab[c] = Σ a·(b − shift[c]); partials in
// double, combined in a fixed order (deterministic).
template <typename T>
__global__ void channel_sums_kernel(const T* a, const T* b, const double* shift, double* sum_a, double* sum_ab,
                                    int64_t N, int64_t C, int64_t L) {
  using A = acc_of<T>;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const A sh = shift ? A(shift[c]) : A(0);
    double s = 0, s2 = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* ra = a + (n * C + c) * L;
      const T* rb = b + (n * C + c) * L;
      A ls = 0, ls2 = 0;
      for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
        const A v = A(load_c<T>(ra[i]));
        ls += v;
        ls2 += v * (A(load_c<T>(rb[i])) - sh);
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
__global__ void channel_affine_kernel(const T* a, const T* b, const double* ka, const double* kb, const double* k0,
                                      T* out, int64_t C, int64_t L, int64_t total) {
  using A = acc_of<T>;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (p / L) % C;
    A v = A(load_c<T>(a[p])) * A(ka[c]) + A(k0[c]);
    if (b) v += A(load_c<T>(b[p])) * A(kb[c]);
    out[p] = store_c<T>(v);
  }
}

template <typename T>
void im2col_impl(const Tensor& in, const Tensor& cols, const Conv2dGeometry& g, double pad_value) {
  const Geo G = geo(in.size(1), in.size(2), in.size(3), g);
  const int64_t total = in.size(0) * G.C * G.kh * G.kw * G.OH * G.OW;
  if (total == 0) return;
  im2col_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(ptr<T>(in), ptr<T>(cols), G, total,
                                                    store_c<T>(compute_of<T>(pad_value)));
  check_launch("im2col");
}

template <typename T>
void col2im_impl(const Tensor& cols, const Tensor& out, const Conv2dGeometry& g) {
  const Geo G = geo(out.size(1), out.size(2), out.size(3), g);
  const int64_t total = out.numel();
  if (total == 0) return;
  col2im_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(ptr<T>(cols), ptr<T>(out), G, total);
  check_launch("col2im");
}

template <typename T>
void max_pool_impl(const Tensor& in, const Tensor& out, const Tensor& indices, const Conv2dGeometry& g) {
  const Geo G = geo(in.size(1), in.size(2), in.size(3), g);
  const int64_t total = out.numel();
  if (total == 0) return;
  max_pool_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(ptr<T>(in), ptr<T>(out), ptr<int64_t>(indices), G, total);
  check_launch("max_pool2d");
}

template <typename T>
void max_pool_backward_impl(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) {
  if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, bool>) {
    throw NotImplementedError("CUDA max_pool2d backward: unsupported dtype");
  } else {
    backend(grad_in.device().index).fill(grad_in, Scalar(0));
    const int64_t total = grad_out.numel();
    if (total == 0) return;
    const int64_t L = grad_out.size(2) * grad_out.size(3), HW = grad_in.size(2) * grad_in.size(3);
    max_pool_backward_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(ptr<T>(grad_out), ptr<int64_t>(indices),
                                                                 ptr<T>(grad_in), L, HW, total);
    check_launch("max_pool2d backward");
  }
}

template <typename T>
void channel_sums_impl(const Tensor& a, const Tensor& b, const Tensor& b_shift, const Tensor& sum_a,
                       const Tensor& sum_ab) {
  const int64_t N = a.size(0), C = a.size(1), L = a.size(2);
  if (C == 0) return;
  channel_sums_kernel<T><<<unsigned(C < 65535 ? C : 65535), kThreads, 0, current_stream()>>>(
      ptr<T>(a), ptr<T>(b), b_shift.defined() ? ptr<double>(b_shift) : nullptr, ptr<double>(sum_a),
      ptr<double>(sum_ab), N, C, L);
  check_launch("channel_sums");
}

template <typename T>
void channel_affine_impl(const Tensor& a, const Tensor& b, const Tensor& ca, const Tensor& cb, const Tensor& c0,
                         const Tensor& out) {
  const int64_t C = a.size(1), L = a.size(2), total = a.numel();
  if (total == 0) return;
  channel_affine_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(
      ptr<T>(a), b.defined() ? ptr<T>(b) : nullptr, ptr<double>(ca), b.defined() ? ptr<double>(cb) : nullptr,
      ptr<double>(c0), ptr<T>(out), C, L, total);
  check_launch("channel_affine");
}

}  // namespace

void CudaBackend::im2col(const Tensor& in, const Tensor& cols, const Conv2dGeometry& g, double pad_value) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "im2col", (im2col_impl<T>(in, cols, g, pad_value)));
}
void CudaBackend::col2im(const Tensor& cols, const Tensor& out, const Conv2dGeometry& g) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(out.dtype(), "col2im", (col2im_impl<T>(cols, out, g)));
}
void CudaBackend::max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const Conv2dGeometry& g) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "max_pool2d", (max_pool_impl<T>(in, out, indices, g)));
}
void CudaBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(grad_in.dtype(), "max_pool2d backward",
                           (max_pool_backward_impl<T>(grad_out, indices, grad_in)));
}
void CudaBackend::channel_sums(const Tensor& a, const Tensor& b, const Tensor& b_shift, const Tensor& sum_a, const Tensor& sum_ab) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(a.dtype(), "channel_sums", (channel_sums_impl<T>(a, b, b_shift, sum_a, sum_ab)));
}
void CudaBackend::channel_affine(const Tensor& a, const Tensor& b, const Tensor& ca, const Tensor& cb, const Tensor& c0,
                    const Tensor& out) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(a.dtype(), "channel_affine", (channel_affine_impl<T>(a, b, ca, cb, c0, out)));
}

}  // namespace anneal::cuda
