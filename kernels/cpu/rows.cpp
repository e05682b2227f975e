// Row kernels over the last dimension of contiguous [rows, n] tensors: softmax and
// log-softmax with their backward, and layer norm with its backward. Each row is one
// pass-set in cache instead of a chain of separate elementwise and reduction ops.
#include <cmath>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/fast_math.h"
#include "runtime/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace anneal::cpu {
namespace {

int64_t rows_grain(int64_t n) { return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(n, 1)); }

void check_rows(const char* what, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    ANNEAL_CHECK(!t->defined() || t->is_contiguous(), ValueError, "cpu ", what, ": expects contiguous tensors");
}

// Row pieces as loops the compiler vectorises (cloned per instruction set for float).
ANNEAL_SIMD_CLONES float row_max(const float* x, int64_t n) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
// y = exp(x - shift), returns the sum of y.
ANNEAL_SIMD_CLONES float row_exp_sum(const float* x, float* y, int64_t n, float shift) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    y[i] = fast_expf(x[i] - shift);
    s += y[i];
  }
  return s;
}
ANNEAL_SIMD_CLONES float row_exp_sum_only(const float* x, int64_t n, float shift) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += fast_expf(x[i] - shift);
  return s;
}
double row_max(const double* x, int64_t n) {
  double m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
double row_exp_sum(const double* x, double* y, int64_t n, double shift) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (y[i] = std::exp(x[i] - shift));
  return s;
}
double row_exp_sum_only(const double* x, int64_t n, double shift) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - shift);
  return s;
}

// causal_len L > 0: row r is query position l = r % L of a [.., L, n] score block, and only
// its first l + 1 columns take part (PyTorch's is_causal); the rest get probability 0.
template <typename T>
void softmax_rows_t(const Tensor& in, const Tensor& out, bool log, int64_t causal_len) {
  const int64_t n = in.size(-1), rows = n ? in.numel() / n : 0;
  const T* x = in.data_ptr<T>();
  T* y = out.data_ptr<T>();
  parallel_for(rows, rows_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const int64_t m = causal_len > 0 ? std::min(n, r % causal_len + 1) : n;
      for (int64_t i = m; i < n; ++i) yr[i] = log ? T(-INFINITY) : T(0);
      const T mx = m > 0 ? row_max(xr, m) : T(-INFINITY);
      bool has_nan = false;
      for (int64_t i = 0; i < m; ++i) has_nan |= xr[i] != xr[i];
      if (has_nan || mx == T(-INFINITY)) {
        // NaN rows stay NaN; an all -inf row gives NaN, as PyTorch.
        for (int64_t i = 0; i < m; ++i) yr[i] = T(NAN);
        continue;
      }
      if (log) {
        const T shift = mx + T(std::log(double(row_exp_sum_only(xr, m, mx))));
        for (int64_t i = 0; i < m; ++i) yr[i] = xr[i] - shift;
      } else {
        const T inv = T(1) / row_exp_sum(xr, yr, m, mx);
        for (int64_t i = 0; i < m; ++i) yr[i] *= inv;
      }
    }
  });
}

template <typename T>
void softmax_rows_backward_t(const Tensor& yt, const Tensor& gt, const Tensor& dxt, bool log) {
  const int64_t n = yt.size(-1), rows = n ? yt.numel() / n : 0;
  const T *y = yt.data_ptr<T>(), *g = gt.data_ptr<T>();
  T* dx = dxt.data_ptr<T>();
  parallel_for(rows, rows_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T *yr = y + r * n, *gr = g + r * n;
      T* d = dx + r * n;
      T dot = 0;
      if (log) {
        for (int64_t i = 0; i < n; ++i) dot += gr[i];
        for (int64_t i = 0; i < n; ++i) d[i] = gr[i] - exp_of(yr[i]) * dot;
      } else {
        for (int64_t i = 0; i < n; ++i) dot += gr[i] * yr[i];
        for (int64_t i = 0; i < n; ++i) d[i] = yr[i] * (gr[i] - dot);
      }
    }
  });
}

template <typename T>
void layer_norm_rows_t(const Tensor& xt, const Tensor& wt, const Tensor& bt, double eps, const Tensor& yt,
                       const Tensor& mean_t, const Tensor& rstd_t) {
  const int64_t n = xt.size(-1), rows = n ? xt.numel() / n : 0;
  const T* x = xt.data_ptr<T>();
  const T* w = wt.defined() ? wt.data_ptr<T>() : nullptr;
  const T* bias = bt.defined() ? bt.data_ptr<T>() : nullptr;
  T* y = yt.data_ptr<T>();
  T *mean = mean_t.data_ptr<T>(), *rstd = rstd_t.data_ptr<T>();
  parallel_for(rows, rows_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      T s = 0;
      for (int64_t i = 0; i < n; ++i) s += xr[i];
      const T mu = s / T(n);
      T ss = 0;
      for (int64_t i = 0; i < n; ++i) ss += (xr[i] - mu) * (xr[i] - mu);
      const T rs = T(1) / std::sqrt(ss / T(n) + T(eps));
      mean[r] = mu, rstd[r] = rs;
      if (w && bias) {
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs * w[i] + bias[i];
      } else {
        for (int64_t i = 0; i < n; ++i) {
          T v = (xr[i] - mu) * rs;
          if (w) v *= w[i];
          if (bias) v += bias[i];
          yr[i] = v;
        }
      }
    }
  });
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * w; dw = Σ g * xhat,
// db = Σ g over rows, summed per fixed chunk of rows and then in chunk order, so the
// result does not depend on the thread count.
template <typename T>
void layer_norm_rows_backward_t(const Tensor& gt, const Tensor& xt, const Tensor& mean_t, const Tensor& rstd_t,
                                const Tensor& wt, const Tensor& dxt, const Tensor& dwt, const Tensor& dbt) {
  const int64_t n = xt.size(-1), rows = n ? xt.numel() / n : 0;
  const T *g = gt.data_ptr<T>(), *x = xt.data_ptr<T>(), *mean = mean_t.data_ptr<T>(), *rstd = rstd_t.data_ptr<T>();
  const T* w = wt.defined() ? wt.data_ptr<T>() : nullptr;
  T* dx = dxt.defined() ? dxt.data_ptr<T>() : nullptr;
  const bool want_wb = dwt.defined() || dbt.defined();
  const int64_t chunk = 64, nchunks = (rows + chunk - 1) / chunk;
  std::vector<T> partial(want_wb ? size_t(nchunks * 2 * n) : 0, T(0));
  parallel_for(nchunks, 1, [&](int64_t cb, int64_t ce) {
    std::vector<T> gw(static_cast<size_t>(n));
    for (int64_t c = cb; c < ce; ++c) {
      T* pw = want_wb ? partial.data() + c * 2 * n : nullptr;
      for (int64_t r = c * chunk; r < std::min(rows, (c + 1) * chunk); ++r) {
        const T *gr = g + r * n, *xr = x + r * n;
        const T mu = mean[r], rs = rstd[r];
        if (pw) {
          for (int64_t i = 0; i < n; ++i) {
            pw[i] += gr[i] * (xr[i] - mu) * rs;
            pw[n + i] += gr[i];
          }
        }
        if (!dx) continue;
        T s1 = 0, s2 = 0;
        for (int64_t i = 0; i < n; ++i) {
          const T v = w ? gr[i] * w[i] : gr[i];
          gw[size_t(i)] = v;
          s1 += v;
          s2 += v * (xr[i] - mu);
        }
        s1 /= T(n);
        s2 = s2 * rs / T(n);
        T* d = dx + r * n;
        for (int64_t i = 0; i < n; ++i) d[i] = rs * (gw[size_t(i)] - s1 - (xr[i] - mu) * rs * s2);
      }
    }
  });
  if (!want_wb) return;
  T* dw = dwt.defined() ? dwt.data_ptr<T>() : nullptr;
  T* db = dbt.defined() ? dbt.data_ptr<T>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    T sw = 0, sb = 0;
    for (int64_t c = 0; c < nchunks; ++c) sw += partial[size_t(c * 2 * n + i)], sb += partial[size_t(c * 2 * n + n + i)];
    if (dw) dw[i] = sw;
    if (db) db[i] = sb;
  }
}


}  // namespace

void CpuBackend::softmax_rows(const Tensor& in, const Tensor& out, bool log, int64_t causal_len) {
  check_rows("softmax_rows", {&in, &out});
  dispatch_float(in.dtype(), "softmax_rows", [&](auto t) { softmax_rows_t<decltype(t)>(in, out, log, causal_len); });
}
void CpuBackend::softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& grad_in, bool log) {
  check_rows("softmax_rows_backward", {&y, &g, &grad_in});
  dispatch_float(y.dtype(), "softmax_rows_backward",
                 [&](auto t) { softmax_rows_backward_t<decltype(t)>(y, g, grad_in, log); });
}
void CpuBackend::layer_norm_rows(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                                 const Tensor& mean, const Tensor& rstd) {
  check_rows("layer_norm_rows", {&x, &w, &b, &y, &mean, &rstd});
  dispatch_float(x.dtype(), "layer_norm_rows", [&](auto t) { layer_norm_rows_t<decltype(t)>(x, w, b, eps, y, mean, rstd); });
}
void CpuBackend::layer_norm_rows_backward(const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                          const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) {
  check_rows("layer_norm_rows_backward", {&g, &x, &mean, &rstd, &w, &dx, &dw, &db});
  dispatch_float(x.dtype(), "layer_norm_rows_backward",
                 [&](auto t) { layer_norm_rows_backward_t<decltype(t)>(g, x, mean, rstd, w, dx, dw, db); });
}

}  // namespace anneal::cpu
