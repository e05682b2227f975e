// Fused optimizer updates: one pass over a parameter and its state instead of a chain
// of elementwise ops (each a pass over memory and, for temporaries, an allocation).
#include <cmath>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "kernels/cpu/cpu_backend.h"
#include "runtime/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace anneal::cpu {
namespace {


void check_same(const char* what, const Tensor& p, std::initializer_list<const Tensor*> ts) {
  ANNEAL_CHECK(p.is_contiguous(), ValueError, "cpu ", what, ": the parameter must be contiguous");
  for (const Tensor* t : ts)
    ANNEAL_CHECK(!t->defined() || (t->is_contiguous() && t->dtype() == p.dtype() && t->numel() == p.numel()),
                 ValueError, "cpu ", what, ": state and gradient must be contiguous, of the parameter's dtype and size");
}

}  // namespace

// The per-element loops, written branch-free over a range so they vectorise; cloned
// for AVX-512 / AVX2 (float is what training uses).
template <typename T>
ANNEAL_SIMD_CLONES void sgd_momentum_loop(T* w, const T* g, T* b, int64_t n, T lr, T mom, T damp, T wd, bool nesterov,
                                          bool first) {
  for (int64_t i = 0; i < n; ++i) {
    const T d = wd != T(0) ? g[i] + w[i] * wd : g[i];  // PyTorch adds no w·0 term
    const T nb = first ? d : b[i] * mom + d * damp;
    b[i] = nb;
    w[i] = w[i] + (nesterov ? d + nb * mom : nb) * -lr;
  }
}
template <typename T>
ANNEAL_SIMD_CLONES void sgd_plain_loop(T* w, const T* g, int64_t n, T lr, T wd) {
  for (int64_t i = 0; i < n; ++i) w[i] = w[i] + (wd != T(0) ? g[i] + w[i] * wd : g[i]) * -lr;
}
template <typename T>
ANNEAL_SIMD_CLONES void adam_loop(T* w, const T* g, T* m, T* v, T* mx, int64_t n, T b1, T b2, T c1, T c2, T eps, T ss,
                                  T bc) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i];
    const T mi = m[i] * b1 + gi * c1;
    const T vi = v[i] * b2 + gi * gi * c2;
    m[i] = mi, v[i] = vi;
    T src = vi;
    if (mx) src = mx[i] = mx[i] > vi ? mx[i] : vi;
    w[i] = w[i] + (mi / (std::sqrt(src) / bc + eps)) * ss;
  }
}

void CpuBackend::sgd_step(const Tensor& p, const Tensor& g, const Tensor& buf, double lr, double momentum,
                          double dampening, double weight_decay, bool nesterov, bool first_step) {
  check_same("sgd_step", p, {&g, &buf});
  dispatch_float(p.dtype(), "sgd_step", [&](auto z) {
    using T = decltype(z);
    T* w = p.data_ptr<T>();
    const T* gr = g.data_ptr<T>();
    T* b = buf.defined() ? buf.data_ptr<T>() : nullptr;
    const T tlr = T(lr), mom = T(momentum), damp = T(1 - dampening), wd = T(weight_decay);
    parallel_for(p.numel(), kElementwiseGrain, [&](int64_t s, int64_t e) {
      if (b) sgd_momentum_loop<T>(w + s, gr + s, b + s, e - s, tlr, mom, damp, wd, nesterov, first_step);
      else sgd_plain_loop<T>(w + s, gr + s, e - s, tlr, wd);
    });
  });
}

void CpuBackend::adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v,
                           double b1, double b2, double eps, double step_size, double bc2_sqrt) {
  check_same("adam_step", p, {&g, &m, &v, &max_v});
  dispatch_float(p.dtype(), "adam_step", [&](auto z) {
    using T = decltype(z);
    T *w = p.data_ptr<T>(), *mp = m.data_ptr<T>(), *vp = v.data_ptr<T>();
    T* mx = max_v.defined() ? max_v.data_ptr<T>() : nullptr;
    const T* gr = g.data_ptr<T>();
    const T tb1 = T(b1), tb2 = T(b2), c1 = T(1 - b1), c2 = T(1 - b2), te = T(eps), ss = T(-step_size),
            bc = T(bc2_sqrt);
    parallel_for(p.numel(), kElementwiseGrain, [&](int64_t s, int64_t e) {
      adam_loop<T>(w + s, gr + s, mp + s, vp + s, mx ? mx + s : nullptr, e - s, tb1, tb2, c1, c2, te, ss, bc);
    });
  });
}

}  // namespace anneal::cpu
