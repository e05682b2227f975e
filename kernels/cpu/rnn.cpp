// The recurrent cells' fused gates on the CPU: one pass over a step's [N, gates·H]
// pre-activations instead of a dozen elementwise ops, keeping the activated gates so the
// backward is plain arithmetic (formulas: kernels/rnn_math.h). float32's sigmoid uses the
// vectorisable exp of fast_math.h, as the elementwise sigmoid does.
#include <algorithm>
#include <cmath>

#include "core/tensor_impl.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/simd.h"
#include "kernels/rnn_math.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {
namespace {

struct GateMath {
  template <class C> ANNEAL_FORCE_INLINE static C exp(C x) { return exp_of(x); }
  template <class C> ANNEAL_FORCE_INLINE static C tanh(C x) { return std::tanh(x); }
};

bool floating_cpu(const Tensor& t) { return t.dtype() == DType::Float32 || t.dtype() == DType::Float64; }

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Rows of H units split over threads; each element costs a few transcendental functions,
// so chunks of ~2K elements already repay a thread.
template <typename F>
void over_rows(int64_t N, int64_t H, const F& f) {
  parallel_for(N, std::max<int64_t>(1, 2048 / std::max<int64_t>(H, 1)), f);
}

}  // namespace

bool CpuBackend::lstm_cell(const Tensor& gates, const Tensor& c, const Tensor& h_out, const Tensor& c_out,
                           const Tensor& act) {
  if (!floating_cpu(gates)) return false;
  const int64_t N = c.size(0), H = c.size(1);
  dispatch_float(gates.dtype(), "lstm_cell", [&](auto zero) {
    using T = decltype(zero);
    const T *G = gates.data_ptr<T>(), *Cp = c.data_ptr<T>();
    T *Ho = h_out.data_ptr<T>(), *Co = c_out.data_ptr<T>(), *A = act.data_ptr<T>();
    over_rows(N, H, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const T* g = G + n * 4 * H;
        T* a = A + n * 5 * H;
        for (int64_t j = 0; j < H; ++j)
          math::lstm_forward<GateMath>(g[j], g[H + j], g[2 * H + j], g[3 * H + j], Cp[n * H + j], Ho[n * H + j],
                                       Co[n * H + j], a[j], a[H + j], a[2 * H + j], a[3 * H + j], a[4 * H + j]);
      }
    });
  });
  return true;
}

bool CpuBackend::lstm_cell_backward(const Tensor& act, const Tensor& c, const Tensor& grad_h, const Tensor& grad_c_out,
                                    const Tensor& grad_gates, const Tensor& grad_c) {
  if (!floating_cpu(act)) return false;
  const int64_t N = c.size(0), H = c.size(1);
  dispatch_float(act.dtype(), "lstm_cell_backward", [&](auto zero) {
    using T = decltype(zero);
    const T *A = act.data_ptr<T>(), *Cp = c.data_ptr<T>();
    const T *gH = ptr_or_null<T>(grad_h), *gC = ptr_or_null<T>(grad_c_out);
    T *dG = grad_gates.data_ptr<T>(), *dC = grad_c.data_ptr<T>();
    over_rows(N, H, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const T* a = A + n * 5 * H;
        T* d = dG + n * 4 * H;
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = n * H + j;
          math::lstm_backward(a[j], a[H + j], a[2 * H + j], a[3 * H + j], a[4 * H + j], Cp[k], gH ? gH[k] : T(0),
                              gC ? gC[k] : T(0), d[j], d[H + j], d[2 * H + j], d[3 * H + j], dC[k]);
        }
      }
    });
  });
  return true;
}

bool CpuBackend::gru_cell(const Tensor& x_gates, const Tensor& h_gates, const Tensor& h, const Tensor& h_out,
                          const Tensor& act) {
  if (!floating_cpu(x_gates)) return false;
  const int64_t N = h.size(0), H = h.size(1);
  dispatch_float(x_gates.dtype(), "gru_cell", [&](auto zero) {
    using T = decltype(zero);
    const T *X = x_gates.data_ptr<T>(), *Hg = h_gates.data_ptr<T>(), *Hp = h.data_ptr<T>();
    T *Ho = h_out.data_ptr<T>(), *A = act.data_ptr<T>();
    over_rows(N, H, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const T *x = X + n * 3 * H, *hg = Hg + n * 3 * H;
        T* a = A + n * 3 * H;
        for (int64_t j = 0; j < H; ++j)
          Ho[n * H + j] = math::gru_forward<GateMath>(x[j], x[H + j], x[2 * H + j], hg[j], hg[H + j], hg[2 * H + j],
                                                      Hp[n * H + j], a[j], a[H + j], a[2 * H + j]);
      }
    });
  });
  return true;
}

bool CpuBackend::gru_cell_backward(const Tensor& act, const Tensor& h_gates, const Tensor& h, const Tensor& grad_h_out,
                                   const Tensor& grad_x_gates, const Tensor& grad_h_gates, const Tensor& grad_h) {
  if (!floating_cpu(act)) return false;
  const int64_t N = h.size(0), H = h.size(1);
  dispatch_float(act.dtype(), "gru_cell_backward", [&](auto zero) {
    using T = decltype(zero);
    const T *A = act.data_ptr<T>(), *Hg = h_gates.data_ptr<T>(), *Hp = h.data_ptr<T>();
    const T* gO = grad_h_out.data_ptr<T>();
    T *dX = grad_x_gates.data_ptr<T>(), *dHg = grad_h_gates.data_ptr<T>(), *dH = grad_h.data_ptr<T>();
    over_rows(N, H, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const T *a = A + n * 3 * H, *hg = Hg + n * 3 * H;
        T *dx = dX + n * 3 * H, *dh = dHg + n * 3 * H;
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = n * H + j;
          T dr, dz, dxn, dhn;
          math::gru_backward(a[j], a[H + j], a[2 * H + j], hg[2 * H + j], Hp[k], gO[k], dr, dz, dxn, dhn, dH[k]);
          dx[j] = dh[j] = dr;
          dx[H + j] = dh[H + j] = dz;
          dx[2 * H + j] = dxn;
          dh[2 * H + j] = dhn;
        }
      }
    });
  });
  return true;
}

}  // namespace anneal::cpu
