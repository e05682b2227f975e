// Pooling: max (with indices, double-differentiable backward), average, adaptive average.
#include "ops/nn.h"

#include <cmath>

#include "core/checked_size.h"
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
  Conv2dGeometry g = conv_geometry(k, k, o);
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

}  // namespace anneal
