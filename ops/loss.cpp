// Losses: nll, cross entropy (a fused kernel for class indices on CUDA), mse, l1, smooth l1,
// binary cross entropy (with logits).
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

namespace {

Tensor reduce_loss(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::None: return loss;
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: return mean(loss);
  }
  return loss;
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b, "target");
  ANNEAL_CHECK(a.sizes() == b.sizes(), ValueError, op, ": target size ", b.shape_str(),
               " must be the same as input size ", a.shape_str());
}

}  // namespace

// IndexError for the first class-index target outside [0, C) that is not ignore_index
// (skipped while a CUDA graph is captured: reading the verdict would wait for the device).
static void check_class_targets(const char* op, const Tensor& t, int64_t C, int64_t ignore_index) {
  if (t.numel() == 0 || !host_checks_allowed(t)) return;
  Tensor bad = logical_and(t != ignore_index, logical_or(t < 0, t >= C));
  ANNEAL_CHECK(!any(bad).item<bool>(), IndexError, op, ": target ", masked_select(t, bad)[0].item<int64_t>(),
               " is out of bounds for ", C, " classes");
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                Reduction reduction) {
  CrossEntropyOptions opt;
  opt.weight = weight;
  opt.ignore_index = ignore_index;
  opt.reduction = reduction;
  check_defined("nll_loss", log_probs);
  check_defined("nll_loss", target, "target");
  ANNEAL_CHECK(log_probs.dim() >= 1, ValueError, "nll_loss: input must have at least 1 dim");
  ANNEAL_CHECK(is_integral(target.dtype()), TypeError, "nll_loss: expected an integer class-index target, got ",
               dtype_name(target.dtype()));
  // Flatten [N, C, d...] to [N*d..., C].
  Tensor lp = log_probs, t = target;
  if (lp.dim() == 1) {
    lp = lp.unsqueeze(0);
    t = t.reshape({1});
  } else if (lp.dim() > 2) {
    IntList perm = {0};
    for (int64_t i = 2; i < lp.dim(); ++i) perm.push_back(i);
    perm.push_back(1);
    lp = lp.permute(perm).reshape({-1, log_probs.size(1)});
  }
  Shape expect_t(log_probs.sizes().begin(), log_probs.sizes().end());
  if (log_probs.dim() >= 2) expect_t.erase(expect_t.begin() + 1);
  else expect_t.clear();
  ANNEAL_CHECK(target.sizes() == expect_t, ValueError, "nll_loss: expected target of shape ", shape_to_string(expect_t),
               " for input of shape ", log_probs.shape_str(), ", got ", target.shape_str());
  t = t.reshape({-1});
  const int64_t C = lp.size(1);
  Tensor valid = t != ignore_index;
  Tensor safe_t = where(valid, t.to(DType::Int64), int64_t(0));
  check_class_targets("nll_loss", t, C, ignore_index);
  Tensor picked = gather(lp, 1, safe_t.unsqueeze(1)).squeeze(1);
  Tensor w = valid.to(lp.dtype());
  if (weight.defined()) {
    ANNEAL_CHECK(weight.dim() == 1 && weight.size(0) == C, ValueError, "nll_loss: weight must have shape [", C,
                 "], got ", weight.shape_str());
    w = w * index_select(weight, 0, safe_t);
  }
  Tensor loss = -picked * w;
  if (reduction == Reduction::None) return loss.reshape(expect_t);
  if (reduction == Reduction::Sum) return sum(loss);
  return sum(loss) / sum(w);
}

// Cross entropy through the device's fused row kernels (CUDA): one pass over the logits
// forward and one backward, no [N, C] log-probabilities kept. For 2-D logits, class-index
// targets, no class weights and no label smoothing; nullopt where it does not apply.
static std::optional<Tensor> fused_cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                                 Reduction reduction) {
  if (!logits.device().is_cuda() || logits.dim() != 2 || !is_floating(logits.dtype()) || !is_integral(target.dtype()) ||
      target.dim() != 1 || target.size(0) != logits.size(0) || target.device() != logits.device())
    return std::nullopt;
  const int64_t N = logits.size(0), C = logits.size(1);
  if (N == 0 || C == 0) return std::nullopt;
  Tensor t = contiguous_raw(cast_raw(target, DType::Int64));
  check_class_targets("cross_entropy", t, C, ignore_index);
  Tensor x = contiguous_raw(logits);
  Tensor loss = empty_on({N}, x.dtype(), x.device()), lse = empty_on({N}, DType::Float32, x.device());
  if (!backend_of(x).cross_entropy_rows(x, t, ignore_index, loss, lse)) return std::nullopt;
  if (autograd::any_requires_grad({logits})) {
    SavedTensor sx(logits, false);
    record("CrossEntropyLossBackward0", {logits}, {loss}, [sx, t, lse, ignore_index, C](const TensorList& g) -> TensorList {
      Tensor xs = sx.unpack();
      if (!GradMode::is_enabled()) {
        Tensor dx = empty_on(xs.sizes(), xs.dtype(), xs.device());
        if (backend_of(xs).cross_entropy_rows_backward(contiguous_raw(xs), t, lse, contiguous_raw(cast_raw(g[0], xs.dtype())),
                                                       ignore_index, dx))
          return {dx};
      }
      // differentiable form, for create_graph
      Tensor onehot = eq(arange(C, TensorOptions(DType::Int64, xs.device())).unsqueeze(0), t.unsqueeze(1)).to(xs.dtype());
      Tensor keep = (t != ignore_index).to(xs.dtype());
      return {(softmax(xs, 1) - onehot) * (g[0] * keep).unsqueeze(1)};
    });
  }
  if (reduction == Reduction::None) return loss;
  if (reduction == Reduction::Sum) return sum(loss);
  return sum(loss) / sum((t != ignore_index).to(loss.dtype()));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt) {
  check_defined("cross_entropy", logits);
  check_defined("cross_entropy", target, "target");
  if (auto c = detail::autocast_f32({&logits, &target, &opt.weight})) {
    CrossEntropyOptions o = opt;
    o.weight = (*c)[2];
    return cross_entropy((*c)[0], (*c)[1], o);
  }
  ANNEAL_CHECK(opt.label_smoothing >= 0 && opt.label_smoothing <= 1, ValueError,
               "cross_entropy: label_smoothing must be in [0, 1], got ", opt.label_smoothing);
  if (!opt.weight.defined() && opt.label_smoothing == 0)
    if (auto fused = fused_cross_entropy(logits, target, opt.ignore_index, opt.reduction)) return *fused;
  const int64_t cdim = logits.dim() == 1 ? 0 : 1;
  const int64_t C = logits.size(cdim);
  Tensor lp = log_softmax(logits, cdim);
  const double eps = opt.label_smoothing;
  Shape wshape(size_t(logits.dim()), 1);
  wshape[size_t(cdim)] = C;
  if (is_floating(target.dtype())) {
    // class probabilities
    ANNEAL_CHECK(target.sizes() == logits.sizes(), ValueError, "cross_entropy: probability target of shape ",
                 target.shape_str(), " must match the input shape ", logits.shape_str());
    Tensor p = eps > 0 ? target * (1 - eps) + eps / double(C) : target;
    Tensor term = lp * p;
    if (opt.weight.defined()) term = term * opt.weight.reshape(wshape);
    Tensor loss = -sum(term, {cdim});
    if (opt.reduction == Reduction::Mean) return logits.dim() == 1 ? loss : sum(loss) / double(loss.numel());
    return reduce_loss(loss, opt.reduction);
  }
  Tensor nll = nll_loss(lp, target, opt.weight, opt.ignore_index, Reduction::None);
  if (eps == 0) {
    if (opt.reduction != Reduction::Mean) return reduce_loss(nll, opt.reduction);
    return nll_loss(lp, target, opt.weight, opt.ignore_index, Reduction::Mean);
  }
  // label smoothing: (1-eps) * nll + eps/C * sum_c(-w_c * lp_c), ignored positions give 0
  Tensor valid = target != opt.ignore_index;
  Tensor smooth_term = opt.weight.defined() ? lp * opt.weight.reshape(wshape) : lp;
  Tensor smooth = -sum(smooth_term, {cdim}) * valid.to(lp.dtype());
  Tensor loss = nll * (1 - eps) + smooth * (eps / double(C));
  if (opt.reduction == Reduction::None) return loss;
  if (opt.reduction == Reduction::Sum) return sum(loss);
  Tensor denom;
  if (opt.weight.defined()) {
    Tensor safe_t = where(valid, target.to(DType::Int64), int64_t(0));
    denom = sum(index_select(opt.weight, 0, safe_t.reshape({-1})) * valid.reshape({-1}).to(lp.dtype()));
  } else {
    denom = sum(valid.to(lp.dtype()));
  }
  return sum(loss) / denom;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r) {
  if (auto c = detail::autocast_f32({&input, &target})) return mse_loss((*c)[0], (*c)[1], r);
  check_same_shape("mse_loss", input, target);
  Tensor d = input - target;
  return reduce_loss(d * d, r);
}
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_same_shape("l1_loss", input, target);
  return reduce_loss(abs(input - target), r);
}
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction r, double beta) {
  check_same_shape("smooth_l1_loss", input, target);
  ANNEAL_CHECK(beta >= 0, ValueError, "smooth_l1_loss: beta must be non-negative, got ", beta);
  Tensor d = abs(input - target);
  if (beta == 0) return reduce_loss(d, r);
  return reduce_loss(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), r);
}
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, const Tensor& weight, Reduction r) {
  check_same_shape("binary_cross_entropy", probs, target);
  {
    NoGradGuard ng;
    ANNEAL_CHECK(probs.numel() == 0 || !host_checks_allowed(probs) ||
                     all(logical_and(probs >= 0, probs <= 1)).item<bool>(),
                 ValueError,
                 "binary_cross_entropy: all elements of input should be between 0 and 1");
  }
  // logs clamped at -100 as in PyTorch, so p = 0 or 1 gives a finite loss
  Tensor log_p = clamp(log(probs), -100.0, std::nullopt);
  Tensor log_1p = clamp(log(1 - probs), -100.0, std::nullopt);
  Tensor loss = -(target * log_p + (1 - target) * log_1p);
  if (weight.defined()) loss = loss * weight;
  return reduce_loss(loss, r);
}
Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& y, const Tensor& weight,
                                        const Tensor& pos_weight, Reduction r) {
  check_same_shape("binary_cross_entropy_with_logits", x, y);
  // log(1 + e^-|x|) + max(-x, 0) is log(1 + e^-x) without overflow
  Tensor log_sig_neg = log1p(exp(-abs(x))) + relu(-x);
  Tensor loss;
  if (pos_weight.defined()) {
    Tensor lw = (pos_weight - 1) * y + 1;
    loss = (1 - y) * x + lw * log_sig_neg;
  } else {
    loss = (1 - y) * x + log_sig_neg;
  }
  if (weight.defined()) loss = loss * weight;
  return reduce_loss(loss, r);
}

}  // namespace anneal
