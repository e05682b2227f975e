// softmax and log_softmax: the fused row kernel where it applies, else the composite.
#include "ops/nn.h"

#include <cmath>

#include "core/autograd/engine.h"
#include "ops/autocast.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/indexing.h"
#include "ops/internal.h"
#include "ops/linalg.h"
#include "ops/nn_common.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

namespace detail {
// The fused row kernel applies to tensors normalised over their last dim: float32/float64
// on the CPU, every floating dtype on CUDA.
bool rows_kernel_applies(const Tensor& x, int64_t d) {
  const bool dtype_ok = x.device().is_cuda() ? is_floating(x.dtype())
                                             : (x.dtype() == DType::Float32 || x.dtype() == DType::Float64);
  return dtype_ok && d == x.dim() - 1 && x.numel() > 0;
}

// causal_len > 0: softmax over the last dim of [.., L, S] scores with query l seeing keys
// 0..l (the rest get probability 0); only on the row kernel's path.
Tensor softmax_family(const Tensor& x, int64_t dim, bool log, int64_t causal_len) {
  const char* name = log ? "log_softmax" : "softmax";
  check_defined(name, x);
  int64_t d = wrap_dim(dim, x.dim(), name);
  Tensor out;
  if (rows_kernel_applies(x, d)) {
    Tensor xc = contiguous_raw(x);
    out = empty_on(x.sizes(), x.dtype(), x.device());
    backend_of(x).softmax_rows(xc, out, log, causal_len);
  } else {
    ANNEAL_CHECK(causal_len == 0, NotImplementedError, "causal softmax: only on the row kernel's path");
    NoGradGuard ng;
    Tensor xf = x.to(float_compute_dtype(x.dtype()));
    Tensor shifted = xf - amax(xf, {d}, true);
    if (log) {
      out = shifted - anneal::log(sum(exp(shifted), {d}, true));
    } else {
      Tensor e = exp(shifted);
      out = e / sum(e, {d}, true);
    }
  }
  if (autograd::any_requires_grad({x})) {
    auto so = std::make_shared<SavedTensor>();
    record(log ? "LogSoftmaxBackward0" : "SoftmaxBackward0", {x}, {out}, [so, d, log](const TensorList& g) -> TensorList {
      Tensor y = so->unpack();
      if (!GradMode::is_enabled() && rows_kernel_applies(y, d) && g[0].dtype() == y.dtype() &&
          g[0].device() == y.device()) {
        Tensor dx = empty_on(y.sizes(), y.dtype(), y.device());
        backend_of(y).softmax_rows_backward(contiguous_raw(y), contiguous_raw(g[0]), dx, log);
        return {dx};
      }
      if (log) return {g[0] - exp(y) * sum(g[0], {d}, true)};
      return {y * (g[0] - sum(g[0] * y, {d}, true))};
    });
    *so = SavedTensor(out, true);
  }
  return out;
}
}  // namespace detail

Tensor softmax(const Tensor& x, int64_t dim) {
  if (auto c = detail::autocast_f32({&x})) return softmax((*c)[0], dim);
  return softmax_family(x, dim, false);
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (auto c = detail::autocast_f32({&x})) return log_softmax((*c)[0], dim);
  return softmax_family(x, dim, true);
}

}  // namespace anneal
