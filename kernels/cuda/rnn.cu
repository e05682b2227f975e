// The recurrent cells' fused gates on the GPU: one thread per (row, unit), formulas from
// kernels/rnn_math.h, half types computed in float; the forward keeps the activated gates
// for the backward.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/rnn_math.h"

namespace anneal::cuda {
namespace {

struct GateMath {
  template <class C> __host__ __device__ static C exp(C x) { return std::exp(x); }
  template <class C> __host__ __device__ static C tanh(C x) { return std::tanh(x); }
};

template <typename T>
__global__ void lstm_kernel(const T* G, const T* Cp, T* Ho, T* Co, T* A, int64_t N, int64_t H) {
  using C = compute_of<T>;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < N * H; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = k / H, j = k % H;
    const T* g = G + n * 4 * H;
    T* a = A + n * 5 * H;
    C h, c, i, f, gg, o, tc;
    math::lstm_forward<GateMath>(load_c<T>(g[j]), load_c<T>(g[H + j]), load_c<T>(g[2 * H + j]),
                                 load_c<T>(g[3 * H + j]), load_c<T>(Cp[k]), h, c, i, f, gg, o, tc);
    Ho[k] = store_c<T>(h);
    Co[k] = store_c<T>(c);
    a[j] = store_c<T>(i), a[H + j] = store_c<T>(f), a[2 * H + j] = store_c<T>(gg), a[3 * H + j] = store_c<T>(o);
    a[4 * H + j] = store_c<T>(tc);
  }
}

template <typename T>
__global__ void lstm_backward_kernel(const T* A, const T* Cp, const T* gH, const T* gC, T* dG, T* dC, int64_t N,
                                     int64_t H) {
  using C = compute_of<T>;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < N * H; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = k / H, j = k % H;
    const T* a = A + n * 5 * H;
    T* d = dG + n * 4 * H;
    C di, df, dg, dout, dc;
    math::lstm_backward(load_c<T>(a[j]), load_c<T>(a[H + j]), load_c<T>(a[2 * H + j]), load_c<T>(a[3 * H + j]),
                        load_c<T>(a[4 * H + j]), load_c<T>(Cp[k]), gH ? load_c<T>(gH[k]) : C(0),
                        gC ? load_c<T>(gC[k]) : C(0), di, df, dg, dout, dc);
    d[j] = store_c<T>(di), d[H + j] = store_c<T>(df), d[2 * H + j] = store_c<T>(dg), d[3 * H + j] = store_c<T>(dout);
    dC[k] = store_c<T>(dc);
  }
}

template <typename T>
__global__ void gru_kernel(const T* X, const T* Hg, const T* Hp, T* Ho, T* A, int64_t N, int64_t H) {
  using C = compute_of<T>;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < N * H; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = k / H, j = k % H;
    const T *x = X + n * 3 * H, *hg = Hg + n * 3 * H;
    T* a = A + n * 3 * H;
    C r, z, nn;
    Ho[k] = store_c<T>(math::gru_forward<GateMath>(load_c<T>(x[j]), load_c<T>(x[H + j]), load_c<T>(x[2 * H + j]),
                                                   load_c<T>(hg[j]), load_c<T>(hg[H + j]), load_c<T>(hg[2 * H + j]),
                                                   load_c<T>(Hp[k]), r, z, nn));
    a[j] = store_c<T>(r), a[H + j] = store_c<T>(z), a[2 * H + j] = store_c<T>(nn);
  }
}

template <typename T>
__global__ void gru_backward_kernel(const T* A, const T* Hg, const T* Hp, const T* gO, T* dX, T* dHg, T* dH, int64_t N,
                                    int64_t H) {
  using C = compute_of<T>;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < N * H; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = k / H, j = k % H;
    const T *a = A + n * 3 * H, *hg = Hg + n * 3 * H;
    T *dx = dX + n * 3 * H, *dh = dHg + n * 3 * H;
    C dr, dz, dxn, dhn, dhp;
    math::gru_backward(load_c<T>(a[j]), load_c<T>(a[H + j]), load_c<T>(a[2 * H + j]), load_c<T>(hg[2 * H + j]),
                       load_c<T>(Hp[k]), load_c<T>(gO[k]), dr, dz, dxn, dhn, dhp);
    dx[j] = dh[j] = store_c<T>(dr);
    dx[H + j] = dh[H + j] = store_c<T>(dz);
    dx[2 * H + j] = store_c<T>(dxn);
    dh[2 * H + j] = store_c<T>(dhn);
    dH[k] = store_c<T>(dhp);
  }
}

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? ptr<T>(t) : nullptr;
}

}  // namespace

bool CudaBackend::lstm_cell(const Tensor& gates, const Tensor& c, const Tensor& h_out, const Tensor& c_out,
                            const Tensor& act) {
  DeviceGuard device_guard(device_);
  const int64_t N = c.size(0), H = c.size(1);
  if (N * H == 0) return true;
  ANNEAL_CUDA_DISPATCH_FLOATING(gates.dtype(), "lstm_cell", ({
    lstm_kernel<T><<<blocks_for(N * H), kThreads, 0, current_stream()>>>(ptr<T>(gates), ptr<T>(c), ptr<T>(h_out),
                                                                          ptr<T>(c_out), ptr<T>(act), N, H);
  }));
  check_launch("lstm_cell");
  return true;
}

bool CudaBackend::lstm_cell_backward(const Tensor& act, const Tensor& c, const Tensor& grad_h, const Tensor& grad_c_out,
                                     const Tensor& grad_gates, const Tensor& grad_c) {
  DeviceGuard device_guard(device_);
  const int64_t N = c.size(0), H = c.size(1);
  if (N * H == 0) return true;
  ANNEAL_CUDA_DISPATCH_FLOATING(act.dtype(), "lstm_cell_backward", ({
    lstm_backward_kernel<T><<<blocks_for(N * H), kThreads, 0, current_stream()>>>(
        ptr<T>(act), ptr<T>(c), ptr_or_null<T>(grad_h), ptr_or_null<T>(grad_c_out), ptr<T>(grad_gates),
        ptr<T>(grad_c), N, H);
  }));
  check_launch("lstm_cell_backward");
  return true;
}

bool CudaBackend::gru_cell(const Tensor& x_gates, const Tensor& h_gates, const Tensor& h, const Tensor& h_out,
                           const Tensor& act) {
  DeviceGuard device_guard(device_);
  const int64_t N = h.size(0), H = h.size(1);
  if (N * H == 0) return true;
  ANNEAL_CUDA_DISPATCH_FLOATING(x_gates.dtype(), "gru_cell", ({
    gru_kernel<T><<<blocks_for(N * H), kThreads, 0, current_stream()>>>(ptr<T>(x_gates), ptr<T>(h_gates), ptr<T>(h),
                                                                         ptr<T>(h_out), ptr<T>(act), N, H);
  }));
  check_launch("gru_cell");
  return true;
}

bool CudaBackend::gru_cell_backward(const Tensor& act, const Tensor& h_gates, const Tensor& h, const Tensor& grad_h_out,
                                    const Tensor& grad_x_gates, const Tensor& grad_h_gates, const Tensor& grad_h) {
  DeviceGuard device_guard(device_);
  const int64_t N = h.size(0), H = h.size(1);
  if (N * H == 0) return true;
  ANNEAL_CUDA_DISPATCH_FLOATING(act.dtype(), "gru_cell_backward", ({
    gru_backward_kernel<T><<<blocks_for(N * H), kThreads, 0, current_stream()>>>(
        ptr<T>(act), ptr<T>(h_gates), ptr<T>(h), ptr<T>(grad_h_out), ptr<T>(grad_x_gates), ptr<T>(grad_h_gates),
        ptr<T>(grad_h), N, H);
  }));
  check_launch("gru_cell_backward");
  return true;
}

}  // namespace anneal::cuda
