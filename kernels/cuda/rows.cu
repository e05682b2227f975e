// Row kernels: softmax / log-softmax (with the in-kernel causal mask of attention),
// layer norm and cross entropy, forward and backward, one block per row; the semantics (NaN rows, all
// -inf rows, masked columns) follow kernels/cpu/rows.cpp. Half types compute in float.
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

template <typename C>
struct SumOp {
  __device__ C operator()(C a, C b) const { return a + b; }
};
template <typename C>
struct MaxOp {  // NaN is handled separately; max of the rest
  __device__ C operator()(C a, C b) const { return b > a ? b : a; }
};
template <typename C>
struct NanMaxOp {  // NaN wins
  __device__ C operator()(C a, C b) const { return a != a ? a : (b != b || b > a ? b : a); }
};

unsigned row_threads(int64_t n) { return n <= 128 ? 128u : (n <= 512 ? 256u : 512u); }
unsigned row_blocks(int64_t rows) { return unsigned(rows < 65535 * 16 ? rows : 65535 * 16); }

template <typename T>
__global__ void softmax_kernel(const T* x, T* y, int64_t rows, int64_t n, bool log, int64_t causal_len) {
  using C = compute_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    const int64_t m = causal_len > 0 ? min(n, r % causal_len + 1) : n;
    for (int64_t i = m + threadIdx.x; i < n; i += blockDim.x) yr[i] = store_c<T>(log ? C(-INFINITY) : C(0));
    C mx = C(-INFINITY), nan = C(0);
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
      const C v = load_c<T>(xr[i]);
      if (v != v) nan = C(1);
      else mx = v > mx ? v : mx;
    }
    mx = block_reduce(mx, MaxOp<C>{}, C(-INFINITY));
    nan = block_reduce(nan, MaxOp<C>{}, C(0));
    if (nan > C(0) || mx == C(-INFINITY)) {  // NaN rows stay NaN; an all -inf row gives NaN
      for (int64_t i = threadIdx.x; i < m; i += blockDim.x) yr[i] = store_c<T>(C(NAN));
      continue;
    }
    C s = 0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += std::exp(load_c<T>(xr[i]) - mx);
    s = block_reduce(s, SumOp<C>{}, C(0));
    if (log) {
      const C shift = mx + std::log(s);
      for (int64_t i = threadIdx.x; i < m; i += blockDim.x) yr[i] = store_c<T>(load_c<T>(xr[i]) - shift);
    } else {
      const C inv = C(1) / s;
      for (int64_t i = threadIdx.x; i < m; i += blockDim.x) yr[i] = store_c<T>(std::exp(load_c<T>(xr[i]) - mx) * inv);
    }
  }
}

template <typename T>
__global__ void softmax_backward_kernel(const T* y, const T* g, T* dx, int64_t rows, int64_t n, bool log) {
  using C = compute_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *yr = y + r * n, *gr = g + r * n;
    T* d = dx + r * n;
    C dot = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      dot += log ? load_c<T>(gr[i]) : load_c<T>(gr[i]) * load_c<T>(yr[i]);
    dot = block_reduce(dot, SumOp<C>{}, C(0));
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const C yi = load_c<T>(yr[i]), gi = load_c<T>(gr[i]);
      d[i] = store_c<T>(log ? gi - std::exp(yi) * dot : yi * (gi - dot));
    }
  }
}

template <typename T>
__global__ void layer_norm_kernel(const T* x, const T* w, const T* b, double eps, T* y, T* mean, T* rstd,
                                  int64_t rows, int64_t n) {
  using C = compute_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    C s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += load_c<T>(xr[i]);
    const C mu = block_reduce(s, SumOp<C>{}, C(0)) / C(n);
    C ss = 0;  // second pass over the (cached) row: no cancellation
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const C d = load_c<T>(xr[i]) - mu;
      ss += d * d;
    }
    const C rs = C(1) / std::sqrt(block_reduce(ss, SumOp<C>{}, C(0)) / C(n) + C(eps));
    if (threadIdx.x == 0) mean[r] = store_c<T>(mu), rstd[r] = store_c<T>(rs);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      C v = (load_c<T>(xr[i]) - mu) * rs;
      if (w) v *= load_c<T>(w[i]);
      if (b) v += load_c<T>(b[i]);
      yr[i] = store_c<T>(v);
    }
  }
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w
template <typename T>
__global__ void layer_norm_dx_kernel(const T* g, const T* x, const T* mean, const T* rstd, const T* w, T* dx,
                                     int64_t rows, int64_t n) {
  using C = compute_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *gr = g + r * n, *xr = x + r * n;
    const C mu = load_c<T>(mean[r]), rs = load_c<T>(rstd[r]);
    C s1 = 0, s2 = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const C v = w ? load_c<T>(gr[i]) * load_c<T>(w[i]) : load_c<T>(gr[i]);
      s1 += v;
      s2 += v * (load_c<T>(xr[i]) - mu);
    }
    s1 = block_reduce(s1, SumOp<C>{}, C(0)) / C(n);
    s2 = block_reduce(s2, SumOp<C>{}, C(0)) * rs / C(n);
    T* d = dx + r * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const C v = w ? load_c<T>(gr[i]) * load_c<T>(w[i]) : load_c<T>(gr[i]);
      d[i] = store_c<T>(rs * (v - s1 - (load_c<T>(xr[i]) - mu) * rs * s2));
    }
  }
}

// dw[i] = Σ_r g·xhat, db[i] = Σ_r g: one thread per column, rows in order (deterministic).
template <typename T>
__global__ void layer_norm_dwdb_kernel(const T* g, const T* x, const T* mean, const T* rstd, T* dw, T* db,
                                       int64_t rows, int64_t n) {
  using C = compute_of<T>;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    C sw = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const C gi = load_c<T>(g[r * n + i]);
      sw += gi * (load_c<T>(x[r * n + i]) - load_c<T>(mean[r])) * load_c<T>(rstd[r]);
      sb += gi;
    }
    if (dw) dw[i] = store_c<T>(sw);
    if (db) db[i] = store_c<T>(sb);
  }
}

// loss[r] = logsumexp(x_r) − x_r[t_r] (0 for ignored rows), lse[r] kept for the backward.
template <typename T>
__global__ void cross_entropy_kernel(const T* x, const int64_t* target, T* loss, float* lse, int64_t rows, int64_t n,
                                     int64_t ignore_index) {
  using C = compute_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    C mx = C(-INFINITY);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) mx = NanMaxOp<C>{}(mx, load_c<T>(xr[i]));
    mx = block_reduce(mx, NanMaxOp<C>{}, C(-INFINITY));  // a NaN logit makes the row's loss NaN
    C s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += std::exp(load_c<T>(xr[i]) - mx);
    s = block_reduce(s, SumOp<C>{}, C(0));
    if (threadIdx.x == 0) {
      const C l = mx + std::log(s);
      const int64_t t = target[r];
      lse[r] = float(l);
      // (targets are checked by the op; one out of range here, unchecked inside a CUDA graph
      // capture, gives NaN instead of a read outside the row)
      loss[r] = store_c<T>(t == ignore_index ? C(0) : (t >= 0 && t < n ? l - load_c<T>(xr[t]) : C(NAN)));
    }
  }
}

// grad_x[r] = (softmax(x_r) − onehot(t_r)) · g[r], 0 for ignored rows.
template <typename T>
__global__ void cross_entropy_backward_kernel(const T* x, const int64_t* target, const float* lse, const T* g, T* dx,
                                              int64_t rows, int64_t n, int64_t ignore_index) {
  using C = compute_of<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* d = dx + r * n;
    const int64_t t = target[r];
    const C gr = t == ignore_index ? C(0) : load_c<T>(g[r]), l = C(lse[r]);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      d[i] = store_c<T>((std::exp(load_c<T>(xr[i]) - l) - C(i == t ? 1 : 0)) * gr);
  }
}

template <typename T>
void cross_entropy_impl(const Tensor& x, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                        const Tensor& lse) {
  const int64_t rows = x.size(0), n = x.size(1);
  if (rows == 0 || n == 0) return;
  cross_entropy_kernel<T><<<row_blocks(rows), row_threads(n), 0, current_stream()>>>(
      ptr<T>(x), ptr<int64_t>(target), ptr<T>(loss), ptr<float>(lse), rows, n, ignore_index);
  check_launch("cross_entropy");
}

template <typename T>
void cross_entropy_backward_impl(const Tensor& x, const Tensor& target, const Tensor& lse, const Tensor& g,
                                 int64_t ignore_index, const Tensor& dx) {
  const int64_t rows = x.size(0), n = x.size(1);
  if (rows == 0 || n == 0) return;
  cross_entropy_backward_kernel<T><<<row_blocks(rows), row_threads(n), 0, current_stream()>>>(
      ptr<T>(x), ptr<int64_t>(target), ptr<float>(lse), ptr<T>(g), ptr<T>(dx), rows, n, ignore_index);
  check_launch("cross_entropy backward");
}

template <typename T>
const T* opt_ptr(const Tensor& t) {
  return t.defined() ? ptr<T>(t) : nullptr;
}

template <typename T>
void softmax_impl(const Tensor& in, const Tensor& out, bool log, int64_t causal_len) {
  const int64_t n = in.size(-1), rows = n ? in.numel() / n : 0;
  if (rows == 0) return;
  softmax_kernel<T><<<row_blocks(rows), row_threads(n), 0, current_stream()>>>(ptr<T>(in), ptr<T>(out), rows, n, log, causal_len);
  check_launch("softmax");
}

template <typename T>
void softmax_backward_impl(const Tensor& y, const Tensor& g, const Tensor& dx, bool log) {
  const int64_t n = y.size(-1), rows = n ? y.numel() / n : 0;
  if (rows == 0) return;
  softmax_backward_kernel<T><<<row_blocks(rows), row_threads(n), 0, current_stream()>>>(ptr<T>(y), ptr<T>(g), ptr<T>(dx), rows, n, log);
  check_launch("softmax backward");
}

template <typename T>
void layer_norm_impl(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                     const Tensor& mean, const Tensor& rstd) {
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  if (rows == 0) return;
  layer_norm_kernel<T><<<row_blocks(rows), row_threads(n), 0, current_stream()>>>(ptr<T>(x), opt_ptr<T>(w), opt_ptr<T>(b), eps, ptr<T>(y),
                                                             ptr<T>(mean), ptr<T>(rstd), rows, n);
  check_launch("layer_norm");
}

template <typename T>
void layer_norm_backward_impl(const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) {
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  if (dx.defined() && rows > 0) {
    layer_norm_dx_kernel<T><<<row_blocks(rows), row_threads(n), 0, current_stream()>>>(ptr<T>(g), ptr<T>(x), ptr<T>(mean), ptr<T>(rstd),
                                                                  opt_ptr<T>(w), ptr<T>(dx), rows, n);
    check_launch("layer_norm backward (dx)");
  }
  if ((dw.defined() || db.defined()) && n > 0) {
    layer_norm_dwdb_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(g), ptr<T>(x), ptr<T>(mean), ptr<T>(rstd),
                                                           dw.defined() ? ptr<T>(dw) : nullptr,
                                                           db.defined() ? ptr<T>(db) : nullptr, rows, n);
    check_launch("layer_norm backward (dw, db)");
  }
}

}  // namespace

void CudaBackend::softmax_rows(const Tensor& in, const Tensor& out, bool log, int64_t causal_len) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(in.dtype(), "softmax", (softmax_impl<T>(in, out, log, causal_len)));
}
void CudaBackend::softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& grad_in, bool log) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(y.dtype(), "softmax backward", (softmax_backward_impl<T>(y, g, grad_in, log)));
}
void CudaBackend::layer_norm_rows(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y, const Tensor& mean,
                     const Tensor& rstd) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(x.dtype(), "layer_norm", (layer_norm_impl<T>(x, w, b, eps, y, mean, rstd)));
}
void CudaBackend::layer_norm_rows_backward(const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(x.dtype(), "layer_norm backward",
                                (layer_norm_backward_impl<T>(g, x, mean, rstd, w, dx, dw, db)));
}

bool CudaBackend::cross_entropy_rows(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                        const Tensor& lse) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(logits.dtype(), "cross_entropy",
                                (cross_entropy_impl<T>(logits, target, ignore_index, loss, lse)));
  return true;
}
bool CudaBackend::cross_entropy_rows_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& grad_loss,
                                 int64_t ignore_index, const Tensor& grad_logits) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_FLOATING(logits.dtype(), "cross_entropy backward",
                                (cross_entropy_backward_impl<T>(logits, target, lse, grad_loss, ignore_index,
                                                                grad_logits)));
  return true;
}

}  // namespace anneal::cuda
