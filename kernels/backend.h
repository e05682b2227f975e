#pragma once
// The primitive kernels every device implements. Ops (ops/) do all checking,
// broadcasting, promotion and allocation; a kernel receives tensors whose shapes and
// dtypes already agree, and just computes. Most operators are compositions of these
// and need no kernel of their own.
#include <cstdint>

#include "core/allocator.h"
#include "core/tensor.h"
#include "runtime/device.h"

namespace anneal {

enum class UnaryOp : uint8_t {
  Neg, Abs, Exp, Expm1, Log, Log1p, Sqrt, Rsqrt, Reciprocal, Square, Sin, Cos, Tanh, Sigmoid,
  Relu, LeakyRelu /*a=slope*/, Gelu, GeluTanh, Silu, Softplus /*a=beta,b=threshold*/, Sign,
  PowScalar /*a=exponent*/, Clamp /*a=lo,b=hi (NaN = none)*/, Floor, Ceil, Round, Erf, LogicalNot,
  IsNan,
  GeluGrad  // d/dx of exact GELU: Φ(x) + x·φ(x)
};
struct UnaryParams {
  double a = 0, b = 0;
};
enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum, Atan2,
  ReluGrad,  // a where b > 0, else 0 (ReLU's backward in one pass)
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr  // these write bool
};
inline bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }
enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, ArgMax, ArgMin, All, Any };

struct Conv2dGeometry {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t out_h(int64_t h) const { return out_len(h, ph, dh, kh, sh); }
  int64_t out_w(int64_t w) const { return out_len(w, pw, dw, kw, sw); }
  // floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1 windows, 0 when none fits. Computed
  // wide: C++ division truncates toward zero (a kernel larger than the input would get one
  // window) and hostile paddings or dilations overflow int64.
  static int64_t out_len(int64_t in, int64_t pad, int64_t dil, int64_t k, int64_t stride) {
    const __int128 n = (__int128)in + 2 * (__int128)pad - (__int128)dil * (k - 1) - 1;
    if (n < 0 || stride <= 0) return 0;
    const __int128 r = n / stride + 1;
    return r > INT64_MAX ? INT64_MAX : int64_t(r);
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType device_type() const = 0;

  virtual void fill(const Tensor& out, Scalar value) = 0;
  // dst[i] = src[i] with dtype conversion; same shape, same device, any strides.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  // out[i] = op(in[i]); in and out share dtype and shape, any strides.
  virtual void unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p = {}) = 0;
  // out[i] = op(a[i], b[i]); a and b share dtype; out is that dtype or bool for comparisons.
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // out[i] = cond[i] ? a[i] : b[i]; cond bool.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // in: contiguous [outer, r, inner]; out: contiguous [outer, inner] (int64 for Arg*,
  // bool for All/Any, the input dtype otherwise).
  virtual void reduce(ReduceOp op, const Tensor& in, const Tensor& out) = 0;
  // out[b] = a[b] @ b[b]: a [B,M,K], b [B,K,N] each with unit stride along one of its
  // last two dims; out contiguous [B,M,N].
  virtual void bmm(const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // out (contiguous) [i] = start + i * step
  virtual void arange(const Tensor& out, double start, double step) = 0;
  // Philox 4x32-10: element i takes lane i%4 of counter (offset + i/4) under key seed.
  virtual void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) = 0;
  virtual void random_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) = 0;
  // Indexing along `dim`; index is int64 and every entry is checked (IndexError).
  virtual void index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) = 0;
  virtual void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;
  virtual void gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) = 0;
  virtual void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) = 0;
  // Indices (int64, [n, ndim]) of the non-zero elements of a contiguous tensor.
  virtual Tensor nonzero(const Tensor& in) = 0;
  // in [N,C,H,W] → cols [N, C*kh*kw, OH*OW]; padding reads pad_value.
  virtual void im2col(const Tensor& in, const Tensor& cols, const Conv2dGeometry& g, double pad_value) = 0;
  // The adjoint: cols [N, C*kh*kw, OH*OW] summed into out [N,C,H,W] (zeroed first).
  virtual void col2im(const Tensor& cols, const Tensor& out, const Conv2dGeometry& g) = 0;
  // Convolution, one image at a time (its columns stay in cache): x [N, C, H, W] and
  // w [O, C/groups, kh, kw] contiguous, bias [O] contiguous or undefined (added while
  // each image's output is in cache), out [N, O, OH, OW].
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out,
                              const Conv2dGeometry& g, int64_t groups) = 0;
  // Gradients of conv2d_forward: grad_x [N, C, H, W] and grad_w (either may be undefined
  // to skip it); the sum over the batch is in a fixed order whatever the thread count.
  virtual void conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                               const Tensor& grad_w, const Conv2dGeometry& g, int64_t groups) = 0;
  // Per-channel sums over contiguous [N, C, L] views: sum_a[c] = Σ (a − a_shift[c]) and
  // sum_ab[c] = Σ (a − a_shift[c])·(b − b_shift[c]) (b may be a itself; the shifts,
  // float64 [C], may be undefined = 0). Outputs are float64 [C]. Shifting by the mean
  // before multiplying keeps float32 exact to its precision when the mean is large
  // against the spread (the product of unshifted values would cancel).
  virtual void channel_sums(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                            const Tensor& sum_a, const Tensor& sum_ab) = 0;
  // out = (a − a_shift[c])·ca[c] + (b − b_shift[c])·cb[c] + c0[c] over contiguous [N, C, L]
  // views (b and either shift may be undefined = none); coefficients are float64 [C].
  // Centred operands again keep float32's precision: batch norm's backward is a small
  // difference of per-channel terms when the gradient is nearly constant over a channel.
  virtual void channel_affine(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                              const Tensor& ca, const Tensor& cb, const Tensor& c0, const Tensor& out) = 0;
  // Max pooling over [N, C, H, W] (contiguous): out and indices [N, C, OH, OW], indices
  // are flat positions in the H*W plane; padding never wins. NaN propagates.
  virtual void max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const Conv2dGeometry& g) = 0;
  // grad_in [N, C, H, W] (zeroed here) receives grad_out at the recorded indices.
  virtual void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) = 0;
  // Softmax (or log-softmax) of each row of contiguous [rows, n] float tensors. With
  // causal_len = L > 0 the rows are query positions l = row % L of [.., L, n] attention
  // scores and only the first l + 1 columns count (the rest get probability 0).
  virtual void softmax_rows(const Tensor& in, const Tensor& out, bool log, int64_t causal_len = 0) = 0;
  // Its gradient from the output y: y·(g − Σ g·y), or g − exp(y)·Σ g for log-softmax.
  virtual void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& grad_in, bool log) = 0;
  // Fused cross entropy of contiguous logits [N, C] (floating) against int64 targets [N]
  // (checked by the caller to be in [0, C) or ignore_index): loss[r] = logsumexp(x_r) −
  // x_r[t_r] in the logits' dtype, 0 for ignored rows, and lse[r] (float32) for the
  // backward, grad_logits[r] = (softmax(x_r) − onehot(t_r)) · grad_loss[r]. False where the
  // device has no such kernel (the caller composes log_softmax and nll_loss).
  virtual bool cross_entropy_rows(const Tensor& /*logits*/, const Tensor& /*target*/, int64_t /*ignore_index*/,
                                  const Tensor& /*loss*/, const Tensor& /*lse*/) {
    return false;
  }
  virtual bool cross_entropy_rows_backward(const Tensor& /*logits*/, const Tensor& /*target*/, const Tensor& /*lse*/,
                                           const Tensor& /*grad_loss*/, int64_t /*ignore_index*/,
                                           const Tensor& /*grad_logits*/) {
    return false;
  }
  // out [M, N] = a [M, K] · b [K, N] + bias [N] (bias broadcast over rows) in one pass,
  // where the device has such a kernel (false: nothing written, the caller adds the bias).
  virtual bool gemm_bias(const Tensor& /*a*/, const Tensor& /*b*/, const Tensor& /*bias*/, const Tensor& /*out*/) {
    return false;
  }
  // Fused attention forward, out = softmax(q·kᵀ·scale [causal: key ≤ query]) · v and the
  // rows' natural log-sum-exp: q [B, H, L, E], k and v [B, H, S, E] (any strides), out
  // [B, H, L, E] and lse float32 [B, H, L] contiguous. Returns false (nothing written)
  // where the device has no such kernel for these shapes and dtypes; the caller composes.
  virtual bool attention_forward(const Tensor& /*q*/, const Tensor& /*k*/, const Tensor& /*v*/, const Tensor& /*out*/,
                                 const Tensor& /*lse*/, bool /*causal*/, double /*scale*/) {
    return false;
  }
  // Recurrent cells' gates, fused (formulas in kernels/rnn_math.h), over contiguous
  // operands of one floating dtype; false (nothing written) where the device has no such
  // kernel for it, and the caller composes. LSTM: gates [N, 4H] (i, f, g, o pre-
  // activations), c [N, H] → h_out, c_out [N, H] and act [N, 5H] (the activated gates and
  // tanh(c'), for the backward). Its backward takes grad_h / grad_c_out (either undefined
  // = 0) and writes grad_gates [N, 4H] and grad_c [N, H].
  virtual bool lstm_cell(const Tensor& /*gates*/, const Tensor& /*c*/, const Tensor& /*h_out*/,
                         const Tensor& /*c_out*/, const Tensor& /*act*/) {
    return false;
  }
  virtual bool lstm_cell_backward(const Tensor& /*act*/, const Tensor& /*c*/, const Tensor& /*grad_h*/,
                                  const Tensor& /*grad_c_out*/, const Tensor& /*grad_gates*/,
                                  const Tensor& /*grad_c*/) {
    return false;
  }
  // GRU: x_gates, h_gates [N, 3H] (r, z, n of x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh), h [N, H]
  // → h_out [N, H] and act [N, 3H] (r, z, n); its backward writes grad_x_gates,
  // grad_h_gates [N, 3H] and grad_h [N, H].
  virtual bool gru_cell(const Tensor& /*x_gates*/, const Tensor& /*h_gates*/, const Tensor& /*h*/,
                        const Tensor& /*h_out*/, const Tensor& /*act*/) {
    return false;
  }
  virtual bool gru_cell_backward(const Tensor& /*act*/, const Tensor& /*h_gates*/, const Tensor& /*h*/,
                                 const Tensor& /*grad_h_out*/, const Tensor& /*grad_x_gates*/,
                                 const Tensor& /*grad_h_gates*/, const Tensor& /*grad_h*/) {
    return false;
  }
  // Layer norm of each row of contiguous [rows, n]: y = (x − mean)·rstd·w + b (w, b [n]
  // or undefined); mean and rstd [rows] are kept for the backward.
  virtual void layer_norm_rows(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                               const Tensor& mean, const Tensor& rstd) = 0;
  // Gradients of layer_norm_rows (dx, dw, db may each be undefined to skip them); sums
  // over rows are in a fixed order whatever the thread count.
  virtual void layer_norm_rows_backward(const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                        const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) = 0;
  // Fused optimizer updates over one contiguous parameter (all operands contiguous, the
  // parameter's dtype), in the same per-element order of operations as PyTorch's
  // single-tensor loops. SGD: d = g (+ wd·p); buf = momentum·buf + (1 − dampening)·d
  // (buf = d when first_step); p −= lr·(nesterov ? d + momentum·buf : buf), or p −= lr·d
  // without momentum (buf undefined).
  virtual void sgd_step(const Tensor& p, const Tensor& g, const Tensor& buf, double lr, double momentum,
                        double dampening, double weight_decay, bool nesterov, bool first_step) = 0;
  // Adam/AdamW: m = b1·m + (1 − b1)·g; v = b2·v + (1 − b2)·g²; (max_v = max(max_v, v));
  // p −= step_size · m / (sqrt(v or max_v) / bc2_sqrt + eps). Weight decay is applied by
  // the caller.
  virtual void adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v,
                         double b1, double b2, double eps, double step_size, double bc2_sqrt) = 0;
  // adam_step with the step count t as a float64 tensor on the device (capturable Adam):
  // step_size = lr / (1 − b1^t) and bc2_sqrt = sqrt(1 − b2^t) are computed on the device.
  // False where the device has no such kernel (the caller composes the update).
  virtual bool adam_step_device_step(const Tensor& /*p*/, const Tensor& /*g*/, const Tensor& /*m*/,
                                     const Tensor& /*v*/, const Tensor& /*max_v*/, const Tensor& /*step*/,
                                     double /*lr*/, double /*b1*/, double /*b2*/, double /*eps*/) {
    return false;
  }
  // Copies between this device and the host (either direction), contiguous tensors. With
  // non_blocking and the host side in page-locked memory, the copy is queued on the
  // current stream and the call returns at once (the host block is kept from reuse until
  // the copy is done); otherwise it returns when the copy is done.
  virtual void copy_across(const Tensor& dst, const Tensor& src, bool non_blocking = false) = 0;
};

// The backend of a device; a CUDA device in a build without CUDA, or with no such GPU, is
// a DeviceError. (Device queries and allocators: runtime/device.h.)
Backend& backend_for(Device d);
inline Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }

}  // namespace anneal
