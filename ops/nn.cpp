#include "ops/nn.h"

#include "core/checked_size.h"

#include "core/autograd/engine.h"

#include <cmath>

#include "ops/attention.h"
#include "ops/autocast.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/internal.h"
#include "ops/linalg.h"
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

namespace {
// The fused row kernel applies to tensors normalised over their last dim: float32/float64
// on the CPU, every floating dtype on CUDA.
bool rows_kernel_applies(const Tensor& x, int64_t d) {
  const bool dtype_ok = x.device().is_cuda() ? is_floating(x.dtype())
                                             : (x.dtype() == DType::Float32 || x.dtype() == DType::Float64);
  return dtype_ok && d == x.dim() - 1 && x.numel() > 0;
}

// causal_len > 0: softmax over the last dim of [.., L, S] scores with query l seeing keys
// 0..l (the rest get probability 0); only on the row kernel's path.
Tensor softmax_family(const Tensor& x, int64_t dim, bool log, int64_t causal_len = 0) {
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
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  if (auto c = detail::autocast_f32({&x})) return softmax((*c)[0], dim);
  return softmax_family(x, dim, false);
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (auto c = detail::autocast_f32({&x})) return log_softmax((*c)[0], dim);
  return softmax_family(x, dim, true);
}

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

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_defined("dropout", x);
  ANNEAL_CHECK(p >= 0 && p <= 1, ValueError, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0) return x;
  if (p == 1) return x * 0.0;
  Tensor keep = rand(x.sizes(), {float_compute_dtype(x.dtype()), x.device()}, gen) >= p;
  return x * keep.to(x.dtype()) * (1.0 / (1.0 - p));
}

static Conv2dGeometry geometry(int64_t kh, int64_t kw, const Conv2dOptions& o) {
  return {kh, kw, o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.dilation_h, o.dilation_w};
}

static void check_conv_opts(const char* op, const Conv2dOptions& o) {
  ANNEAL_CHECK(o.stride_h > 0 && o.stride_w > 0, ValueError, op, ": stride must be positive");
  ANNEAL_CHECK(o.pad_h >= 0 && o.pad_w >= 0, ValueError, op, ": padding must be non-negative");
  ANNEAL_CHECK(o.dilation_h > 0 && o.dilation_w > 0, ValueError, op, ": dilation must be positive");
  ANNEAL_CHECK(o.groups > 0, ValueError, op, ": groups must be positive");
}

Tensor unfold(const Tensor& x, int64_t kh, int64_t kw, const Conv2dOptions& opt, double pad_value) {
  check_defined("unfold", x);
  check_conv_opts("unfold", opt);
  ANNEAL_CHECK(x.dim() == 4, ValueError, "unfold: expected a 4-D input [N, C, H, W], got ", x.shape_str());
  ANNEAL_CHECK(kh > 0 && kw > 0, ValueError, "unfold: kernel size must be positive");
  Conv2dGeometry g = geometry(kh, kw, opt);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = g.out_h(H), OW = g.out_w(W);
  ANNEAL_CHECK(OH > 0 && OW > 0, ValueError, "unfold: the kernel (", kh, "x", kw, ", dilation ", opt.dilation_h, "x",
               opt.dilation_w, ") is larger than the padded input (", double(H) + 2.0 * double(opt.pad_h), "x",
               double(W) + 2.0 * double(opt.pad_w), ")");
  Tensor cols = empty_on({N, C * kh * kw, OH * OW}, x.dtype(), x.device());
  backend_of(x).im2col(contiguous_raw(x), cols, g, pad_value);
  record("Im2ColBackward0", {x}, {cols}, [g, shape = x.sizes()](const TensorList& gr) -> TensorList {
    // col2im is linear; its own backward is im2col again (written as an op for double backward)
    Tensor gc = contiguous_raw(gr[0]);
    Tensor out = empty_on(shape, gc.dtype(), gc.device());
    backend_of(gc).col2im(gc, out, g);
    record("Col2ImBackward0", {gr[0]}, {out}, [g](const TensorList& gg) -> TensorList {
      Conv2dOptions o{g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, 1};
      return {unfold(gg[0], g.kh, g.kw, o)};
    });
    return {out};
  });
  return cols;
}

// Forward of the unfold + matmul formulation, used to differentiate a convolution
// twice (create_graph): the direct kernels' backward is not itself differentiable.
static Tensor conv2d_composite(const Tensor& x, const Tensor& w, const Conv2dOptions& opt, int64_t OH, int64_t OW) {
  const int64_t N = x.size(0), C = x.size(1), O = w.size(0), G = opt.groups, kh = w.size(2), kw = w.size(3);
  Tensor cols = unfold(x, kh, kw, opt);
  Tensor out = G == 1 ? matmul(w.reshape({O, -1}), cols)
                      : matmul(w.reshape({G, O / G, -1}), cols.reshape({N, G, C / G * kh * kw, OH * OW}));
  return out.reshape({N, O, OH, OW});
}

// Convolution through the backend's per-image kernels (columns of one image at a time
// stay in cache), with the bias added as a broadcast.
static Tensor conv2d_direct(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt,
                            const Conv2dGeometry& g, int64_t OH, int64_t OW) {
  const int64_t N = x.size(0), O = w.size(0);
  Tensor xc = contiguous_raw(x), wc = contiguous_raw(w);
  Tensor out = empty_on({N, O, OH, OW}, x.dtype(), x.device());
  // the bias joins the product's output per image (in cache), not in a pass of its own
  const bool fuse_bias = bias.defined() && bias.dtype() == x.dtype() && bias.device() == x.device() &&
                         bias.dim() == 1 && bias.size(0) == O;
  backend_of(x).conv2d_forward(xc, wc, fuse_bias ? contiguous_raw(bias) : Tensor(), out, g, opt.groups);
  if (autograd::any_requires_grad({x, w, fuse_bias ? bias : Tensor()})) {
    SavedTensor sx(x, false), sw(w, false);
    record("ConvolutionBackward0", {x, w, fuse_bias ? bias : Tensor()}, {out},
           [sx, sw, opt, g, OH, OW, rx = x.requires_grad(), rw = w.requires_grad(),
            rb = fuse_bias && bias.requires_grad()](const TensorList& gr) -> TensorList {
             Tensor gb = rb ? gr[0].sum({0, 2, 3}) : Tensor();
             Tensor xin = sx.unpack(), win = sw.unpack();
             if (GradMode::is_enabled()) {  // create_graph: differentiate the composite form
               Tensor y = conv2d_composite(xin, win, opt, OH, OW);
               TensorList wrt;
               if (rx) wrt.push_back(xin);
               if (rw) wrt.push_back(win);
               TensorList gs = autograd::grad({y}, wrt, {gr[0]}, true, true, true);
               return {rx ? gs[0] : Tensor(), rw ? gs[rx ? 1 : 0] : Tensor(), gb};
             }
             Tensor xcont = contiguous_raw(xin), wcont = contiguous_raw(win), gcont = contiguous_raw(gr[0]);
             Tensor gx = rx ? empty_on(xin.sizes(), xin.dtype(), xin.device()) : Tensor();
             Tensor gw = rw ? empty_on(win.sizes(), win.dtype(), win.device()) : Tensor();
             backend_of(xin).conv2d_backward(gcont, xcont, wcont, gx, gw, g, opt.groups);
             return {gx, gw, gb};
           });
  }
  if (bias.defined() && !fuse_bias) return out + bias.reshape({1, O, 1, 1});
  return out;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt) {
  check_defined("conv2d", x);
  check_defined("conv2d", w, "weight");
  if (auto c = detail::autocast_low({&x, &w, &bias})) return conv2d((*c)[0], (*c)[1], (*c)[2], opt);
  check_conv_opts("conv2d", opt);
  ANNEAL_CHECK(x.dim() == 4, ValueError, "conv2d: expected a 4-D input [N, C, H, W], got ", x.shape_str());
  ANNEAL_CHECK(w.dim() == 4, ValueError, "conv2d: expected a 4-D weight [O, C/groups, kh, kw], got ", w.shape_str());
  const int64_t G = opt.groups, O = w.size(0), C = x.size(1), kh = w.size(2), kw = w.size(3);
  ANNEAL_CHECK(C % G == 0 && O % G == 0, ValueError, "conv2d: in_channels (", C, ") and out_channels (", O,
               ") must be divisible by groups (", G, ")");
  ANNEAL_CHECK(w.size(1) * G == C, ValueError, "conv2d: expected input ", x.shape_str(), " to have ", w.size(1) * G,
               " channels for weight ", w.shape_str(), " and groups ", G, ", but got ", C, " channels");
  if (bias.defined())
    ANNEAL_CHECK(bias.dim() == 1 && bias.size(0) == O, ValueError, "conv2d: bias must have shape [", O, "], got ",
                 bias.shape_str());
  Conv2dGeometry g = geometry(kh, kw, opt);
  const int64_t N = x.size(0), OH = g.out_h(x.size(2)), OW = g.out_w(x.size(3));
  if (x.device() == w.device() && x.dtype() == w.dtype() &&
      (x.device().is_cuda() ? is_floating(x.dtype()) : (x.dtype() == DType::Float32 || x.dtype() == DType::Float64))) {
    ANNEAL_CHECK(OH > 0 && OW > 0, ValueError, "conv2d: the kernel (", kh, "x", kw, ", dilation ", opt.dilation_h, "x",
                 opt.dilation_w, ") is larger than the padded input (", double(x.size(2)) + 2.0 * double(opt.pad_h), "x",
                 double(x.size(3)) + 2.0 * double(opt.pad_w), ")");
    return conv2d_direct(x, w, bias, opt, g, OH, OW);
  }
  Tensor cols = unfold(x, kh, kw, opt);  // [N, C*kh*kw, L]
  Tensor out;
  if (G == 1) {
    out = matmul(w.reshape({O, -1}), cols);  // [O, K] @ [N, K, L] → [N, O, L]
  } else {
    Tensor cg = cols.reshape({N, G, C / G * kh * kw, OH * OW});
    Tensor wg = w.reshape({G, O / G, -1});
    out = matmul(wg, cg);  // [N, G, O/G, L]
  }
  out = out.reshape({N, O, OH, OW});
  if (bias.defined()) out = out + bias.reshape({1, O, 1, 1});
  return out;
}

// -1 (the C++ default; Python's None) means "the kernel size", as in PyTorch; 0 or another
// negative stride is an error, not a silent default.
static int64_t pool_stride(const char* op, int64_t kernel, int64_t stride) {
  if (stride == -1) return kernel;
  ANNEAL_CHECK(stride > 0, ValueError, op, ": stride must be positive, got ", stride);
  return stride;
}

// max_pool2d_backward as an op: linear in the gradient, so its own backward gathers the
// incoming gradient at the same indices (double backward works).
static Tensor max_pool2d_backward_op(const Tensor& grad_out, const Tensor& indices, const Shape& in_shape) {
  Tensor go = contiguous_raw(grad_out);
  Tensor gi = empty_on(in_shape, go.dtype(), go.device());
  backend_of(go).max_pool2d_backward(go, indices, gi);
  record("MaxPool2DWithIndicesBackwardBackward0", {grad_out}, {gi}, [indices](const TensorList& g) -> TensorList {
    const int64_t N = indices.size(0), C = indices.size(1);
    Tensor flat = g[0].reshape({N, C, -1});
    return {gather(flat, 2, indices.reshape({N, C, -1})).reshape(indices.sizes())};
  });
  return gi;
}

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, int64_t k, int64_t stride, int64_t padding,
                                                   int64_t dilation) {
  check_defined("max_pool2d", x);
  ANNEAL_CHECK(x.dim() == 4, ValueError, "max_pool2d: expected a 4-D input [N, C, H, W], got ", x.shape_str());
  ANNEAL_CHECK(k > 0, ValueError, "max_pool2d: kernel size must be positive, got ", k);
  ANNEAL_CHECK(dilation > 0, ValueError, "max_pool2d: dilation must be positive, got ", dilation);
  ANNEAL_CHECK(padding >= 0 && padding <= k / 2, ValueError,
               "max_pool2d: pad should be at most half of effective kernel size, but got pad=", padding,
               " and kernel_size=", k);
  const int64_t s = pool_stride("max_pool2d", k, stride);
  Conv2dGeometry g{k, k, s, s, padding, padding, dilation, dilation};
  const int64_t N = x.size(0), C = x.size(1), OH = g.out_h(x.size(2)), OW = g.out_w(x.size(3));
  ANNEAL_CHECK(OH > 0 && OW > 0, ValueError, "max_pool2d: output size is too small (input ", x.shape_str(), ", kernel ",
               k, ", stride ", s, ", padding ", padding, ", dilation ", dilation, ")");
  Tensor out = empty_on({N, C, OH, OW}, x.dtype(), x.device());
  Tensor indices = empty_on({N, C, OH, OW}, DType::Int64, x.device());
  backend_of(x).max_pool2d(contiguous_raw(x), out, indices, g);
  record("MaxPool2DWithIndicesBackward0", {x}, {out}, [indices, shape = x.sizes()](const TensorList& gr) -> TensorList {
    return {max_pool2d_backward_op(gr[0], indices, shape)};
  });
  return {out, indices};
}

Tensor max_pool2d(const Tensor& x, int64_t k, int64_t stride, int64_t padding, int64_t dilation) {
  return std::get<0>(max_pool2d_with_indices(x, k, stride, padding, dilation));
}

Tensor avg_pool2d(const Tensor& x, int64_t k, int64_t stride, int64_t padding, bool count_include_pad) {
  check_defined("avg_pool2d", x);
  ANNEAL_CHECK(x.dim() == 4, ValueError, "avg_pool2d: expected a 4-D input [N, C, H, W], got ", x.shape_str());
  ANNEAL_CHECK(k > 0, ValueError, "avg_pool2d: kernel size must be positive, got ", k);
  ANNEAL_CHECK(padding >= 0 && padding <= k / 2, ValueError,
               "avg_pool2d: pad should be at most half of kernel size, but got pad=", padding, " and kernel_size=", k);
  const int64_t s = pool_stride("avg_pool2d", k, stride);
  Conv2dOptions o = Conv2dOptions::square(s, padding, 1);
  Conv2dGeometry g = geometry(k, k, o);
  const int64_t N = x.size(0), C = x.size(1), OH = g.out_h(x.size(2)), OW = g.out_w(x.size(3));
  Tensor cols = unfold(x, k, k, o).reshape({N, C, k * k, OH * OW});
  Tensor s_ = sum(cols, {2});
  Tensor out;
  if (count_include_pad || padding == 0) {
    out = s_ / double(k * k);
  } else {
    Tensor ones_in = ones({1, 1, x.size(2), x.size(3)}, {x.dtype(), x.device()});
    Tensor count = sum(unfold(ones_in, k, k, o).reshape({1, 1, k * k, OH * OW}), {2});
    out = s_ / count;
  }
  return out.reshape({N, C, OH, OW});
}

// Row i of the pooling matrix averages input cells [floor(i*in/out), ceil((i+1)*in/out)).
static Tensor adaptive_matrix(int64_t in, int64_t out, DType dt, Device dev) {
  std::vector<double> m(size_t(checked_nbytes(checked_mul(out, in, "adaptive_avg_pool2d"), sizeof(double),
                                              "adaptive_avg_pool2d") / sizeof(double)), 0.0);
  for (int64_t i = 0; i < out; ++i) {
    int64_t s = (i * in) / out, e = ((i + 1) * in + out - 1) / out;
    for (int64_t j = s; j < e; ++j) m[size_t(i * in + j)] = 1.0 / double(e - s);
  }
  return tensor(m, {out, in}, TensorOptions(dt, dev));
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_defined("adaptive_avg_pool2d", x);
  ANNEAL_CHECK(x.dim() == 3 || x.dim() == 4, ValueError, "adaptive_avg_pool2d: expected a 3-D or 4-D input, got ",
               x.shape_str());
  ANNEAL_CHECK(out_h > 0 && out_w > 0, ValueError, "adaptive_avg_pool2d: output size must be positive");
  ANNEAL_CHECK(is_floating(x.dtype()), TypeError, "adaptive_avg_pool2d: expected a floating input");
  const int64_t H = x.size(-2), W = x.size(-1);
  ANNEAL_CHECK(H > 0 && W > 0, ValueError, "adaptive_avg_pool2d: expected input to have non-zero size for non-batch "
               "dimensions, but input has sizes ", x.shape_str());
  if (out_h == 1 && out_w == 1) return mean(x, {-2, -1}, true);
  Tensor ph = adaptive_matrix(H, out_h, x.dtype(), x.device());
  Tensor pw = adaptive_matrix(W, out_w, x.dtype(), x.device());
  return matmul(matmul(ph, x), pw.t());
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
  be.channel_sums(x3, x3, Tensor(), sum_x, unused);
  Tensor mu, var, invstd, scale, shift;
  {
    NoGradGuard ng;
    mu = sum_x / n;
    Tensor sq = empty_on({C}, DType::Float64, x.device());
    be.channel_sums(x3, x3, mu, unused, sq);  // Σ x·(x − μ) = Σ (x − μ)²
    var = clamp(sq / n, 0.0, std::nullopt);
    invstd = rsqrt(var + eps);
    Tensor g = weight.defined() ? weight.detach().to(DType::Float64) : ones({C}, f64);
    Tensor b = bias.defined() ? bias.detach().to(DType::Float64) : zeros({C}, f64);
    scale = g * invstd;
    shift = b - mu * scale;
    if (running_mean.defined() && running_var.defined()) {
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1 - momentum).add_(mu.to(rm.dtype()) * momentum);
      rv.mul_(1 - momentum).add_(var.to(rv.dtype()) * (momentum * n / (n - 1)));
    }
  }
  Tensor y3 = empty_on({N, C, L}, x.dtype(), x.device());
  be.channel_affine(x3, Tensor(), scale, Tensor(), shift, y3);
  Tensor y = make_view(y3, x.sizes(), contiguous_strides(x.sizes()), 0);
  if (autograd::any_requires_grad({x, weight, bias})) {
    SavedTensor sx(x, false), sw(weight, false);
    record("NativeBatchNormBackward0", {x, weight, bias}, {y},
           [sx, sw, mu, invstd, N, C, L, n, eps, has_w = weight.defined(), has_b = bias.defined()](const TensorList& gr) -> TensorList {
             Tensor xin = sx.unpack(), w = sw.unpack();
             Shape bshape(size_t(xin.dim()), 1);
             bshape[1] = C;
             const DType dt = xin.dtype();
             if (GradMode::is_enabled()) {  // create_graph: the formula with ops
               IntList dims = {0};
               for (int64_t i = 2; i < xin.dim(); ++i) dims.push_back(i);
               // the statistics as functions of x, so the second derivative sees them
               Tensor m = mean(xin, dims, true);
               Tensor centered = xin - m;
               Tensor is = rsqrt(mean(centered * centered, dims, true) + eps);
               Tensor xhat = centered * is;
               Tensor g = gr[0];
               Tensor gw = has_w ? g * w.reshape(bshape) : g;
               Tensor sg = sum(gw, dims, true), sgx = sum(gw * xhat, dims, true);
               Tensor dx = is * (gw - sg / n - xhat * sgx / n);
               return {dx, has_w ? sum(g * xhat, dims) : Tensor(), has_b ? sum(g, dims) : Tensor()};
             }
             Backend& be = backend_of(xin);
             Tensor gcont = contiguous_raw(gr[0]), xcont = contiguous_raw(xin);
             Tensor g3 = make_view(gcont, {N, C, L}, {C * L, L, 1}, gcont.storage_offset());
             Tensor xc = make_view(xcont, {N, C, L}, {C * L, L, 1}, xcont.storage_offset());
             Tensor sg = empty_on({C}, DType::Float64, xin.device()), sgx = empty_on({C}, DType::Float64, xin.device());
             be.channel_sums(g3, xc, mu, sg, sgx);  // Σg, Σ g·(x − μ)
             Tensor gamma = has_w ? w.detach().to(DType::Float64) : ones({C}, TensorOptions(DType::Float64, xin.device()));
             Tensor sgxhat = sgx * invstd;  // Σ g·x̂
             Tensor k = gamma * invstd;
             Tensor cb = -(k * invstd * sgxhat) / n;
             Tensor c0 = -(k * sg) / n - cb * mu;
             Tensor dx3 = empty_on({N, C, L}, dt, xin.device());
             be.channel_affine(g3, xc, k, cb, c0, dx3);
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
    if (is_floating(x.dtype())) {
      return batch_norm_train_fused(x, running_mean, running_var, weight, bias, momentum, eps);
    }
    Tensor mu = mean(x, dims, true);
    Tensor centered = x - mu;
    Tensor v = mean(centered * centered, dims, true);
    y = centered * rsqrt(v + eps);
    if (running_mean.defined() && running_var.defined()) {
      NoGradGuard ng;
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1 - momentum).add_(mu.reshape({C}).to(rm.dtype()) * momentum);
      rv.mul_(1 - momentum).add_(v.reshape({C}).to(rv.dtype()) * (momentum * double(n) / double(n - 1)));
    }
  } else {
    ANNEAL_CHECK(running_mean.defined() && running_var.defined(), ValueError,
                 "batch_norm: running_mean and running_var are required in eval mode");
    y = (x - running_mean.reshape(bshape)) * rsqrt(running_var.reshape(bshape) + eps);
  }
  if (weight.defined()) y = y * weight.reshape(bshape);
  if (bias.defined()) y = y + bias.reshape(bshape);
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
    SavedTensor sx(x, false), sw(weight, false);
    const bool has_w = weight.defined(), has_b = bias.defined();
    record("NativeLayerNormBackward0", {x, weight, bias}, {y},
           [sx, sw, mu, rstd, k, n, rows, eps, has_w, has_b](const TensorList& gr) -> TensorList {
             Tensor xin = sx.unpack(), w = sw.unpack(), g = gr[0];
             if (GradMode::is_enabled()) {  // create_graph: the formula with ops, statistics as functions of x
               IntList dims, lead;
               for (int64_t i = xin.dim() - k; i < xin.dim(); ++i) dims.push_back(i);
               for (int64_t i = 0; i < xin.dim() - k; ++i) lead.push_back(i);
               Tensor m = mean(xin, dims, true);
               Tensor centered = xin - m;
               Tensor is = rsqrt(mean(centered * centered, dims, true) + eps);
               Tensor xhat = centered * is;
               Tensor gw = has_w ? g * w : g;
               Tensor dx = is * (gw - mean(gw, dims, true) - xhat * mean(gw * xhat, dims, true));
               return {dx, has_w ? sum(g * xhat, lead) : Tensor(), has_b ? sum(g, lead) : Tensor()};
             }
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
  IntList dims;
  for (int64_t i = x.dim() - k; i < x.dim(); ++i) dims.push_back(i);
  auto same = [&](const Tensor& t) { return !t.defined() || (t.dtype() == x.dtype() && t.device() == x.device()); };
  if (rows_kernel_applies(x, x.dim() - 1) && same(weight) && same(bias)) return layer_norm_fused(x, k, weight, bias, eps);
  Tensor mu = mean(x, dims, true);
  Tensor centered = x - mu;
  Tensor y = centered * rsqrt(mean(centered * centered, dims, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
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

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    bool is_causal, std::optional<double> scale, double dropout_p, Generator* gen) {
  check_defined("scaled_dot_product_attention", q, "query");
  check_defined("scaled_dot_product_attention", k, "key");
  check_defined("scaled_dot_product_attention", v, "value");
  if (auto c = detail::autocast_low({&q, &k, &v}))
    return scaled_dot_product_attention((*c)[0], (*c)[1], (*c)[2], attn_mask, is_causal, scale, dropout_p, gen);
  ANNEAL_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, ValueError,
               "scaled_dot_product_attention: query, key and value need at least 2 dims");
  ANNEAL_CHECK(q.size(-1) == k.size(-1), ValueError, "scaled_dot_product_attention: query and key embedding sizes differ (",
               q.size(-1), " vs ", k.size(-1), ")");
  ANNEAL_CHECK(k.size(-2) == v.size(-2), ValueError, "scaled_dot_product_attention: key and value lengths differ (",
               k.size(-2), " vs ", v.size(-2), ")");
  ANNEAL_CHECK(!(is_causal && attn_mask.defined()), ValueError,
               "scaled_dot_product_attention: pass either attn_mask or is_causal, not both");
  const int64_t L = q.size(-2), S = k.size(-2);
  const double sc = scale.value_or(1.0 / std::sqrt(double(q.size(-1))));
  if (!attn_mask.defined() && dropout_p == 0)
    if (auto fused = fused_attention(q, k, v, is_causal, sc)) return *fused;
  // Scaling the queries costs L·E multiplications instead of L·S on the scores.
  Tensor scores = matmul(q * sc, k.mT());
  Tensor weights;
  if (is_causal && L > 0 && rows_kernel_applies(scores, scores.dim() - 1)) {
    weights = softmax_family(scores, -1, false, L);  // the mask applied inside the row kernel
  } else if (is_causal) {
    Tensor keep = tril(ones({L, S}, {DType::Bool, q.device()}));
    scores = where(keep, scores, -INFINITY);
  } else if (attn_mask.defined()) {
    scores = attn_mask.dtype() == DType::Bool ? where(attn_mask, scores, -INFINITY) : scores + attn_mask;
  }
  if (!weights.defined()) weights = softmax(scores, -1);
  if (dropout_p > 0) weights = dropout(weights, dropout_p, true, gen);
  return matmul(weights, v);
}

}  // namespace anneal
