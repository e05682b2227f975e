// Fused optimizer steps: one pass over parameter, gradient and state, the same
// per-element order of operations as kernels/cpu/optim.cpp (PyTorch's single-tensor
// loops), in the parameter's dtype (half types compute in float).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

template <typename T>
__global__ void sgd_kernel(T* w, const T* g, T* buf, int64_t n, float lr_f, double lr_d, double mom_d, double damp_d,
                           double wd_d, bool nesterov, bool first) {
  using C = compute_of<T>;
  const C lr = std::is_same_v<C, double> ? C(lr_d) : C(lr_f), mom = C(mom_d), damp = C(damp_d), wd = C(wd_d);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const C wi = load_c<T>(w[i]), gi = load_c<T>(g[i]);
    const C d = wd != C(0) ? gi + wi * wd : gi;  // PyTorch adds no w·0 term
    if (!buf) {
      w[i] = store_c<T>(wi + d * -lr);
      continue;
    }
    const C nb = first ? d : load_c<T>(buf[i]) * mom + d * damp;
    buf[i] = store_c<T>(nb);
    w[i] = store_c<T>(wi + (nesterov ? d + nb * mom : nb) * -lr);
  }
}

// step: null, or the step count on the device (capturable Adam): the bias corrections are
// then computed here from it and lr, so a captured graph replays them correctly.
template <typename T>
__global__ void adam_kernel(T* w, const T* g, T* m, T* v, T* mx, int64_t n, double b1_d, double b2_d, double eps_d,
                            double ss_d, double bc_d, const double* step, double lr) {
  using C = compute_of<T>;
  if (step) {
    const double t = *step;
    ss_d = lr / (1 - pow(b1_d, t));
    bc_d = sqrt(1 - pow(b2_d, t));
  }
  const C b1 = C(b1_d), b2 = C(b2_d), c1 = C(1 - b1_d), c2 = C(1 - b2_d), eps = C(eps_d), ss = C(-ss_d), bc = C(bc_d);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const C gi = load_c<T>(g[i]);
    const C mi = load_c<T>(m[i]) * b1 + gi * c1;
    const C vi = load_c<T>(v[i]) * b2 + gi * gi * c2;
    m[i] = store_c<T>(mi), v[i] = store_c<T>(vi);
    C src = vi;
    if (mx) {
      const C old = load_c<T>(mx[i]);
      src = old > vi ? old : vi;
      mx[i] = store_c<T>(src);
    }
    w[i] = store_c<T>(load_c<T>(w[i]) + (mi / (std::sqrt(src) / bc + eps)) * ss);
  }
}

void check_same(const char* what, const Tensor& p, std::initializer_list<const Tensor*> ts) {
  ANNEAL_CHECK(p.is_contiguous(), ValueError, "CUDA ", what, ": the parameter must be contiguous");
  for (const Tensor* t : ts)
    ANNEAL_CHECK(!t->defined() || (t->is_contiguous() && t->dtype() == p.dtype() && t->numel() == p.numel()),
                 ValueError, "CUDA ", what, ": state and gradient must be contiguous, of the parameter's dtype and size");
}

template <typename T>
void sgd_impl(const Tensor& p, const Tensor& g, const Tensor& buf, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step) {
  const int64_t n = p.numel();
  if (n == 0) return;
  sgd_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(p), ptr<T>(g), buf.defined() ? ptr<T>(buf) : nullptr, n,
                                             float(lr), lr, momentum, 1 - dampening, weight_decay, nesterov,
                                             first_step);
  check_launch("sgd_step");
}

template <typename T>
void adam_impl(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v, double b1,
               double b2, double eps, double step_size, double bc2_sqrt, const double* step, double lr) {
  const int64_t n = p.numel();
  if (n == 0) return;
  adam_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(p), ptr<T>(g), ptr<T>(m), ptr<T>(v),
                                              max_v.defined() ? ptr<T>(max_v) : nullptr, n, b1, b2, eps, step_size,
                                              bc2_sqrt, step, lr);
  check_launch("adam_step");
}

}  // namespace

void CudaBackend::sgd_step(const Tensor& p, const Tensor& g, const Tensor& buf, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step) {
  DeviceGuard device_guard(device_);
  check_same("sgd_step", p, {&g, &buf});
  ANNEAL_CUDA_DISPATCH_FLOATING(p.dtype(), "sgd_step",
                                (sgd_impl<T>(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first_step)));
}

void CudaBackend::adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v, double b1,
               double b2, double eps, double step_size, double bc2_sqrt) {
  DeviceGuard device_guard(device_);
  check_same("adam_step", p, {&g, &m, &v, &max_v});
  ANNEAL_CUDA_DISPATCH_FLOATING(p.dtype(), "adam_step",
                                (adam_impl<T>(p, g, m, v, max_v, b1, b2, eps, step_size, bc2_sqrt, nullptr, 0.0)));
}

bool CudaBackend::adam_step_device_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v,
                           const Tensor& step, double lr, double b1, double b2, double eps) {
  DeviceGuard device_guard(device_);
  check_same("adam_step", p, {&g, &m, &v, &max_v});
  ANNEAL_CHECK(step.dtype() == DType::Float64 && step.numel() == 1, ValueError,
               "CUDA adam_step: the device step count must be one float64");
  const double* t = ptr<double>(step);
  ANNEAL_CUDA_DISPATCH_FLOATING(p.dtype(), "adam_step",
                                (adam_impl<T>(p, g, m, v, max_v, b1, b2, eps, 0.0, 0.0, t, lr)));
  return true;
}

}  // namespace anneal::cuda
