// Convolution: unfold (im2col) with its backward, and conv2d through the direct kernels or
// the unfold + matmul composite.
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

Conv2dGeometry detail::conv_geometry(int64_t kh, int64_t kw, const Conv2dOptions& o) {
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
  Conv2dGeometry g = conv_geometry(kh, kw, opt);
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

// The composite form (ops/fused.h): unfold + matmul, [O, K] @ [N, K, L] per group. The
// fallback where the direct kernels do not apply, and what create_graph differentiates.
static Tensor conv2d_composite(const Tensor& x, const Tensor& w, const Conv2dOptions& opt, int64_t OH, int64_t OW) {
  const int64_t N = x.size(0), C = x.size(1), O = w.size(0), G = opt.groups, kh = w.size(2), kw = w.size(3);
  Tensor cols = unfold(x, kh, kw, opt);  // [N, C*kh*kw, L]
  Tensor out = G == 1 ? matmul(w.reshape({O, -1}), cols)
                      : matmul(w.reshape({G, O / G, -1}), cols.reshape({N, G, C / G * kh * kw, OH * OW}));
  return out.reshape({N, O, OH, OW});
}

// Whether the backend's direct convolution kernels take these operands.
static bool conv2d_direct_applies(const Tensor& x, const Tensor& w) {
  return x.device() == w.device() && x.dtype() == w.dtype() &&
         (x.device().is_cuda() ? is_floating(x.dtype()) : (x.dtype() == DType::Float32 || x.dtype() == DType::Float64));
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
               TensorList gs = composite_backward(
                   [&](const TensorList& in) { return conv2d_composite(in[0], in[1], opt, OH, OW); }, {xin, win}, gr[0]);
               return {rx ? gs[0] : Tensor(), rw ? gs[1] : Tensor(), gb};
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
  Conv2dGeometry g = conv_geometry(kh, kw, opt);
  const int64_t OH = g.out_h(x.size(2)), OW = g.out_w(x.size(3));
  if (conv2d_direct_applies(x, w)) {
    ANNEAL_CHECK(OH > 0 && OW > 0, ValueError, "conv2d: the kernel (", kh, "x", kw, ", dilation ", opt.dilation_h, "x",
                 opt.dilation_w, ") is larger than the padded input (", double(x.size(2)) + 2.0 * double(opt.pad_h), "x",
                 double(x.size(3)) + 2.0 * double(opt.pad_w), ")");
    return conv2d_direct(x, w, bias, opt, g, OH, OW);
  }
  Tensor out = conv2d_composite(x, w, opt, OH, OW);
  if (bias.defined()) out = out + bias.reshape({1, O, 1, 1});
  return out;
}

}  // namespace anneal
