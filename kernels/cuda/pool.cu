// Max pooling with indices on the GPU (kernels/cpu/pool.cpp's contract). The backward adds
// by index with atomics, since overlapping windows may pick the same pixel.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/window_geometry.cuh"

namespace anneal::cuda {
namespace {

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


}  // namespace

void CudaBackend::max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const Conv2dGeometry& g) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "max_pool2d", (max_pool_impl<T>(in, out, indices, g)));
}
void CudaBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(grad_in.dtype(), "max_pool2d backward",
                           (max_pool_backward_impl<T>(grad_out, indices, grad_in)));
}

}  // namespace anneal::cuda
