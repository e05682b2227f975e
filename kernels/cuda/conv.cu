// Convolution on the GPU: through cuDNN when the build has it (cudnn_conv.cu), otherwise
// (or for what cuDNN does not take) as im2col + cuBLAS batched products (one product per
// image and group), with the CPU backend's contract. The weight gradient is the per-image products
// summed over the batch by the reduce kernel, in a fixed order.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cudnn_conv.h"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

template <typename T>
__global__ void bias_kernel(T* out, const T* bias, int64_t O, int64_t L, int64_t total) {
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x)
    out[p] = store_c<T>(load_c<T>(out[p]) + load_c<T>(bias[(p / L) % O]));
}

template <typename T>
void add_bias_impl(const Tensor& out, const Tensor& bias, int64_t O, int64_t L) {
  const int64_t total = out.numel();
  if (total == 0) return;
  bias_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(ptr<T>(out), ptr<T>(bias), O, L, total);
  check_launch("conv2d bias");
}

// out [N, Og, L] (a view into a [N, O, L] tensor at group gi) = a · b, through a
// contiguous temporary when the view is not one block.
void bmm_into(CudaBackend& be, const Tensor& a, const Tensor& b, const Tensor& out_view, bool contiguous) {
  if (contiguous) {
    be.bmm(a, b, out_view);
    return;
  }
  Tensor tmp = make_empty(out_view.sizes(), out_view.dtype(), allocator_for(out_view.device()));
  be.bmm(a, b, tmp);
  be.copy(out_view, tmp);
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out, const Conv2dGeometry& g,
                    int64_t groups) {
  DeviceGuard device_guard(device_);
  const int64_t N = x.size(0), C = x.size(1), O = w.size(0), L = out.size(2) * out.size(3);
  const int64_t KK = g.kh * g.kw, Cg = C / groups, Og = O / groups, Kg = Cg * KK;
  if (N == 0 || O == 0 || L == 0) return;
  if (!cudnn_conv2d_forward(x, w, out, g, groups)) {
    Tensor cols = make_empty({N, C * KK, L}, x.dtype(), allocator_for(x.device()));
    im2col(x, cols, g, 0.0);
    for (int64_t gi = 0; gi < groups; ++gi) {
      Tensor a = make_view(w, {N, Og, Kg}, {0, Kg, 1}, w.impl()->offset() + gi * Og * Kg);
      Tensor b = make_view(cols, {N, Kg, L}, {C * KK * L, L, 1}, gi * Kg * L);
      Tensor o = make_view(out, {N, Og, L}, {O * L, L, 1}, out.impl()->offset() + gi * Og * L);
      bmm_into(*this, a, b, o, groups == 1);
    }
  }
  if (bias.defined()) ANNEAL_CUDA_DISPATCH_FLOATING(out.dtype(), "conv2d", (add_bias_impl<T>(out, bias, O, L)));
}

void CudaBackend::conv2d_backward(const Tensor& gout, const Tensor& x, const Tensor& w, const Tensor& grad_x, const Tensor& grad_w,
                     const Conv2dGeometry& g, int64_t groups) {
  DeviceGuard device_guard(device_);
  const int64_t N = x.size(0), C = x.size(1), O = w.size(0), L = gout.size(2) * gout.size(3);
  const int64_t KK = g.kh * g.kw, Cg = C / groups, Og = O / groups, Kg = Cg * KK;
  if (N > 0 && L > 0 && cudnn_conv2d_backward(gout, x, w, grad_x, grad_w, g, groups)) return;
  Allocator* alloc = allocator_for(x.device());
  const int64_t go = gout.impl()->offset();
  if (grad_w.defined()) {
    if (N == 0 || L == 0) {
      fill(grad_w, Scalar(0));
    } else {
      Tensor cols = make_empty({N, C * KK, L}, x.dtype(), alloc);
      im2col(x, cols, g, 0.0);
      Tensor per_image = make_empty({N, Og, Kg}, x.dtype(), alloc);
      for (int64_t gi = 0; gi < groups; ++gi) {
        Tensor a = make_view(gout, {N, Og, L}, {O * L, L, 1}, go + gi * Og * L);
        Tensor b = make_view(cols, {N, L, Kg}, {C * KK * L, 1, L}, gi * Kg * L);  // cols_gᵀ
        bmm(a, b, per_image);
        reduce(ReduceOp::Sum, make_view(per_image, {1, N, Og * Kg}, {N * Og * Kg, Og * Kg, 1}, 0),
               make_view(grad_w, {1, Og * Kg}, {Og * Kg, 1}, grad_w.impl()->offset() + gi * Og * Kg));
      }
    }
  }
  if (grad_x.defined()) {
    if (N == 0 || L == 0) {
      fill(grad_x, Scalar(0));
      return;
    }
    Tensor dcols = make_empty({N, C * KK, L}, x.dtype(), alloc);
    for (int64_t gi = 0; gi < groups; ++gi) {
      Tensor a = make_view(w, {N, Kg, Og}, {0, 1, Kg}, w.impl()->offset() + gi * Og * Kg);  // w_gᵀ
      Tensor b = make_view(gout, {N, Og, L}, {O * L, L, 1}, go + gi * Og * L);
      Tensor o = make_view(dcols, {N, Kg, L}, {C * KK * L, L, 1}, gi * Kg * L);
      bmm_into(*this, a, b, o, groups == 1);
    }
    col2im(dcols, grad_x, g);
  }
}

}  // namespace anneal::cuda
