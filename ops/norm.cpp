// Normalisation: batch norm (fused training pass), layer norm (fused rows), group norm.
#include "ops/nn.h"

#include <cmath>

#include "core/autograd/engine.h"
#include "ops/autocast.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/fused.h"
#include "ops/indexing.h"
#include "ops/internal.h"
#include "ops/linalg.h"
#include "ops/nn_common.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

// Batch norm in training mode, composite form (ops/fused.h): normalised by the statistics
// of x itself over every dim but the channels, then the per-channel affine map. The
// fallback for inputs the fused passes do not take, and what create_graph differentiates.
static Tensor batch_norm_train_composite(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  IntList dims = {0};
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  Shape bshape(size_t(x.dim()), 1);
  bshape[1] = x.size(1);
  Tensor centered = x - mean(x, dims, true);
  Tensor y = centered * rsqrt(mean(centered * centered, dims, true) + eps);
  if (weight.defined()) y = y * weight.reshape(bshape);
  if (bias.defined()) y = y + bias.reshape(bshape);
  return y;
}

// Each channel's first value of a contiguous [N, C, L] view, float64 [C] (undefined when
// the view is empty): the shift of a first pass over the channel, so the float32 partial
// sums add small differences x − x₀ and a mean far from zero keeps its digits (summing raw
// values near 100 lost 1e-4 of x̂ at mean/std = 1000).
static Tensor channel_first_values(const Tensor& x3) {
  if (x3.numel() == 0) return Tensor();
  NoGradGuard ng;
  return contiguous_raw(x3.select(0, 0).select(1, 0)).to(DType::Float64);
}

// Batch norm in training mode with two passes over the activations forward (per-channel
// sums, then one affine map) and two backward, instead of the ~7 + ~12 of the composite.
// The backward is the fused kernels when no graph is being built, and the same formula
// written with ops under create_graph, so double backward still works.
static Tensor batch_norm_train_fused(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                                     const Tensor& weight, const Tensor& bias, double momentum, double eps) {
  const int64_t N = x.size(0), C = x.size(1), L = x.numel() / std::max<int64_t>(N * C, 1);
  const double n = double(N * L);
  Backend& be = backend_of(x);
  Tensor xc = contiguous_raw(x);
  Tensor x3 = make_view(xc, {N, C, L}, {C * L, L, 1}, xc.storage_offset());
  const TensorOptions f64(DType::Float64, x.device());
  Tensor sum_x = empty_on({C}, DType::Float64, x.device()), unused = empty_on({C}, DType::Float64, x.device());
  const Tensor x0 = channel_first_values(x3);
  be.channel_sums(x3, x0, x3, Tensor(), sum_x, unused);  // Σ (x − x₀)
  Tensor mu, var, invstd, scale, shift;
  {
    NoGradGuard ng;
    mu = x0.defined() ? x0 + sum_x / n : sum_x / n;
    Tensor sq = empty_on({C}, DType::Float64, x.device());
    be.channel_sums(x3, mu, x3, mu, unused, sq);  // Σ (x − μ)²
    var = clamp(sq / n, 0.0, std::nullopt);
    invstd = rsqrt(var + eps);
    Tensor g = weight.defined() ? weight.detach().to(DType::Float64) : ones({C}, f64);
    Tensor b = bias.defined() ? bias.detach().to(DType::Float64) : zeros({C}, f64);
    scale = g * invstd;
    shift = b;  // y = (x − μ)·scale + b: centred first, so float32 keeps its precision
    if (running_mean.defined() && running_var.defined()) {
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1 - momentum).add_(mu.to(rm.dtype()) * momentum);
      rv.mul_(1 - momentum).add_(var.to(rv.dtype()) * (momentum * n / (n - 1)));
    }
  }
  Tensor y3 = empty_on({N, C, L}, x.dtype(), x.device());
  be.channel_affine(x3, mu, Tensor(), Tensor(), scale, Tensor(), shift, y3);  // (x − μ)·scale + b
  Tensor y = make_view(y3, x.sizes(), contiguous_strides(x.sizes()), 0);
  if (autograd::any_requires_grad({x, weight, bias})) {
    SavedTensor sx(x, false), sw(weight, false);
    record("NativeBatchNormBackward0", {x, weight, bias}, {y},
           [sx, sw, sb = SavedTensor(bias, false), mu, invstd, N, C, L, n, eps, has_w = weight.defined(),
            has_b = bias.defined()](const TensorList& gr) -> TensorList {
             Tensor xin = sx.unpack(), w = sw.unpack();
             const DType dt = xin.dtype();
             if (GradMode::is_enabled())  // create_graph: differentiate the composite form
               return composite_backward(
                   [eps](const TensorList& in) { return batch_norm_train_composite(in[0], in[1], in[2], eps); },
                   {xin, w, sb.unpack()}, gr[0]);
             Backend& be = backend_of(xin);
             Tensor gcont = contiguous_raw(gr[0]), xcont = contiguous_raw(xin);
             Tensor g3 = make_view(gcont, {N, C, L}, {C * L, L, 1}, gcont.storage_offset());
             Tensor xc = make_view(xcont, {N, C, L}, {C * L, L, 1}, xcont.storage_offset());
             Tensor sg = empty_on({C}, DType::Float64, xin.device()), sgx = empty_on({C}, DType::Float64, xin.device());
             // (g stays unshifted: Σ (g − g₀)·(x − μ) equals Σ g·(x − μ) only in exact
             // arithmetic, and a large g₀ makes its products cancel)
             be.channel_sums(g3, Tensor(), xc, mu, sg, sgx);  // Σg, Σ g·(x − μ)
             Tensor gamma = has_w ? w.detach().to(DType::Float64) : ones({C}, TensorOptions(DType::Float64, xin.device()));
             Tensor sgxhat = sgx * invstd;  // Σ g·x̂
             Tensor k = gamma * invstd;
             Tensor cb = -(k * invstd * sgxhat) / n;
             Tensor dx3 = empty_on({N, C, L}, dt, xin.device());
             // k·(g − mean g) + cb·(x − μ): both operands centred, so a gradient that is
             // nearly constant over a channel does not cancel away float32's digits
             be.channel_affine(g3, sg / n, xc, mu, k, cb, zeros({C}, TensorOptions(DType::Float64, xin.device())), dx3);
             Tensor dx = make_view(dx3, xin.sizes(), contiguous_strides(xin.sizes()), 0);
             return {dx, has_w ? sgxhat.to(w.dtype()) : Tensor(), has_b ? sg.to(dt) : Tensor()};
           });
  }
  return y;
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_defined("batch_norm", x);
  ANNEAL_CHECK(x.dim() >= 2, ValueError, "batch_norm: expected at least 2-D input [N, C, ...], got ", x.shape_str());
  const int64_t C = x.size(1);
  Shape bshape(size_t(x.dim()), 1);
  bshape[1] = C;
  auto check_param = [&](const Tensor& t, const char* name) {
    if (t.defined())
      ANNEAL_CHECK(t.dim() == 1 && t.size(0) == C, ValueError, "batch_norm: ", name, " should have shape [", C,
                   "], got ", t.shape_str());
  };
  check_param(running_mean, "running_mean");
  check_param(running_var, "running_var");
  check_param(weight, "weight");
  check_param(bias, "bias");
  IntList dims = {0};
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  Tensor y;
  if (training) {
    const int64_t n = x.numel() / std::max<int64_t>(C, 1);
    ANNEAL_CHECK(n > 1, ValueError, "batch_norm: expected more than 1 value per channel when training, got input size ",
                 x.shape_str());
    if (is_floating(x.dtype())) return batch_norm_train_fused(x, running_mean, running_var, weight, bias, momentum, eps);
    if (running_mean.defined() && running_var.defined()) {
      NoGradGuard ng;
      Tensor mu = mean(x, dims, true), centered = x - mu, v = mean(centered * centered, dims, true);
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1 - momentum).add_(mu.reshape({C}).to(rm.dtype()) * momentum);
      rv.mul_(1 - momentum).add_(v.reshape({C}).to(rv.dtype()) * (momentum * double(n) / double(n - 1)));
    }
    return batch_norm_train_composite(x, weight, bias, eps);
  } else {
    ANNEAL_CHECK(running_mean.defined() && running_var.defined(), ValueError,
                 "batch_norm: running_mean and running_var are required in eval mode");
    y = (x - running_mean.reshape(bshape)) * rsqrt(running_var.reshape(bshape) + eps);
  }
  if (weight.defined()) y = y * weight.reshape(bshape);
  if (bias.defined()) y = y + bias.reshape(bshape);
  return y;
}

// Layer norm over the last k dims, composite form (ops/fused.h): the fallback where the
// row kernel does not apply, and what create_graph differentiates.
static Tensor layer_norm_composite(const Tensor& x, int64_t k, const Tensor& weight, const Tensor& bias, double eps) {
  IntList dims;
  for (int64_t i = x.dim() - k; i < x.dim(); ++i) dims.push_back(i);
  Tensor centered = x - mean(x, dims, true);
  Tensor y = centered * rsqrt(mean(centered * centered, dims, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

namespace {
// A contiguous [numel / n, n] view of t's values (copied once if t is not contiguous); no autograd.
Tensor as_rows(const Tensor& t, int64_t n) {
  Tensor c = contiguous_raw(t);
  return make_view(c, {c.numel() / n, n}, {n, 1}, c.storage_offset());
}
// Layer norm over the last k dims by the row kernel: rows = the leading dims, n = the
// normalised ones (weight and bias flatten to [n]).
Tensor layer_norm_fused(const Tensor& x, int64_t k, const Tensor& weight, const Tensor& bias, double eps) {
  int64_t n = 1;
  for (int64_t i = x.dim() - k; i < x.dim(); ++i) n *= x.size(i);
  const int64_t rows = x.numel() / n;
  Tensor y = empty_on(x.sizes(), x.dtype(), x.device());
  Tensor mu = empty_on({rows}, x.dtype(), x.device()), rstd = empty_on({rows}, x.dtype(), x.device());
  backend_of(x).layer_norm_rows(as_rows(x, n), weight.defined() ? as_rows(weight, n) : Tensor(),
                                bias.defined() ? as_rows(bias, n) : Tensor(), eps, as_rows(y, n), mu, rstd);
  if (autograd::any_requires_grad({x, weight, bias})) {
    SavedTensor sx(x, false), sw(weight, false), sb(bias, false);
    const bool has_w = weight.defined(), has_b = bias.defined();
    record("NativeLayerNormBackward0", {x, weight, bias}, {y},
           [sx, sw, sb, mu, rstd, k, n, rows, eps, has_w, has_b](const TensorList& gr) -> TensorList {
             Tensor xin = sx.unpack(), w = sw.unpack(), g = gr[0];
             if (GradMode::is_enabled())  // create_graph: differentiate the composite form
               return composite_backward(
                   [k, eps](const TensorList& in) { return layer_norm_composite(in[0], k, in[1], in[2], eps); },
                   {xin, w, sb.unpack()}, g);
             Tensor dx = empty_on(xin.sizes(), xin.dtype(), xin.device());
             Tensor dw = has_w ? empty_on(w.sizes(), w.dtype(), w.device()) : Tensor();
             Shape norm_shape;
             for (int64_t i = xin.dim() - k; i < xin.dim(); ++i) norm_shape.push_back(xin.size(i));
             Tensor db = has_b ? empty_on(norm_shape, xin.dtype(), xin.device()) : Tensor();
             backend_of(xin).layer_norm_rows_backward(as_rows(g.to(xin.dtype()), n), as_rows(xin, n), mu, rstd,
                                                      has_w ? as_rows(w, n) : Tensor(), as_rows(dx, n),
                                                      has_w ? as_rows(dw, n) : Tensor(), has_b ? as_rows(db, n) : Tensor());
             return {dx, dw, db};
           });
  }
  return y;
}
}  // namespace

Tensor layer_norm(const Tensor& x, const IntList& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_defined("layer_norm", x);
  if (auto c = detail::autocast_f32({&x, &weight, &bias})) return layer_norm((*c)[0], normalized_shape, (*c)[1], (*c)[2], eps);
  const int64_t k = int64_t(normalized_shape.size());
  ANNEAL_CHECK(k >= 1 && k <= x.dim(), ValueError, "layer_norm: normalized_shape ", shape_to_string(normalized_shape),
               " does not fit input of shape ", x.shape_str());
  for (int64_t i = 0; i < k; ++i)
    ANNEAL_CHECK(x.size(x.dim() - k + i) == normalized_shape[size_t(i)], ValueError,
                 "layer_norm: given normalized_shape=", shape_to_string(normalized_shape),
                 ", expected input with shape [*, ", shape_to_string(normalized_shape).substr(1), ", but got input of size ",
                 x.shape_str());
  Shape ns(normalized_shape.begin(), normalized_shape.end());
  if (weight.defined())
    ANNEAL_CHECK(weight.sizes() == ns, ValueError, "layer_norm: weight must have shape ", shape_to_string(ns));
  if (bias.defined())
    ANNEAL_CHECK(bias.sizes() == ns, ValueError, "layer_norm: bias must have shape ", shape_to_string(ns));
  auto same = [&](const Tensor& t) { return !t.defined() || (t.dtype() == x.dtype() && t.device() == x.device()); };
  if (rows_kernel_applies(x, x.dim() - 1) && same(weight) && same(bias)) return layer_norm_fused(x, k, weight, bias, eps);
  return layer_norm_composite(x, k, weight, bias, eps);
}

Tensor group_norm(const Tensor& x, int64_t G, const Tensor& weight, const Tensor& bias, double eps) {
  if (auto c = detail::autocast_f32({&x, &weight, &bias})) return group_norm((*c)[0], G, (*c)[1], (*c)[2], eps);
  check_defined("group_norm", x);
  ANNEAL_CHECK(x.dim() >= 2, ValueError, "group_norm: expected at least 2-D input [N, C, ...], got ", x.shape_str());
  const int64_t N = x.size(0), C = x.size(1);
  ANNEAL_CHECK(G > 0 && C % G == 0, ValueError, "group_norm: expected number of channels in input (", C,
               ") to be divisible by num_groups (", G, ")");
  Tensor xg = x.reshape({N, G, -1});
  Tensor mu = mean(xg, {2}, true);
  Tensor centered = xg - mu;
  Tensor y = (centered * rsqrt(mean(centered * centered, {2}, true) + eps)).reshape(x.sizes());
  Shape bshape(size_t(x.dim()), 1);
  bshape[1] = C;
  if (weight.defined()) y = y * weight.reshape(bshape);
  if (bias.defined()) y = y + bias.reshape(bshape);
  return y;
}

}  // namespace anneal
