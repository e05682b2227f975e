// im2col / col2im on the GPU, with the CPU backend's contract (kernels/cpu/conv.cpp).
// col2im gathers per input pixel: a fixed order, no atomics.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/window_geometry.cuh"

namespace anneal::cuda {
namespace {

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


}  // namespace

void CudaBackend::im2col(const Tensor& in, const Tensor& cols, const Conv2dGeometry& g, double pad_value) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "im2col", (im2col_impl<T>(in, cols, g, pad_value)));
}
void CudaBackend::col2im(const Tensor& cols, const Tensor& out, const Conv2dGeometry& g) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(out.dtype(), "col2im", (col2im_impl<T>(cols, out, g)));
}

}  // namespace anneal::cuda
