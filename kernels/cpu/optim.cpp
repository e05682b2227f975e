// Fused optimizer updates: one pass over a parameter and its state instead of a chain
// of elementwise ops (each a pass over memory and, for temporaries, an allocation).
#include <cmath>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

namespace anneal::cpu {
namespace {

template <typename F>
void dispatch_float(DType dt, const char* what, const F& f) {
  if (dt == DType::Float32) return f(float{});
  if (dt == DType::Float64) return f(double{});
  throw TypeError(str("cpu ", what, ": float32 and float64 only, got ", dtype_name(dt)));
}

void check_same(const char* what, const Tensor& p, std::initializer_list<const Tensor*> ts) {
  ANNEAL_CHECK(p.is_contiguous(), ValueError, "cpu ", what, ": the parameter must be contiguous");
  for (const Tensor* t : ts)
    ANNEAL_CHECK(!t->defined() || (t->is_contiguous() && t->dtype() == p.dtype() && t->numel() == p.numel()),
                 ValueError, "cpu ", what, ": state and gradient must be contiguous, of the parameter's dtype and size");
}

}  // namespace

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
      for (int64_t i = s; i < e; ++i) {
        T d = gr[i];
        if (wd != T(0)) d = d + w[i] * wd;
        if (b) {
          b[i] = first_step ? d : b[i] * mom + d * damp;
          d = nesterov ? d + b[i] * mom : b[i];
        }
        w[i] = w[i] + d * -tlr;
      }
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
      for (int64_t i = s; i < e; ++i) {
        const T gi = gr[i];
        mp[i] = mp[i] * tb1 + gi * c1;
        vp[i] = vp[i] * tb2 + gi * gi * c2;
        T src = vp[i];
        if (mx) src = mx[i] = mx[i] > vp[i] ? mx[i] : vp[i];
        const T denom = std::sqrt(src) / bc + te;
        w[i] = w[i] + (mp[i] / denom) * ss;
      }
    });
  });
}

}  // namespace anneal::cpu
