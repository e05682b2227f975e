#include "ops/linalg.h"

#include "core/autograd/grad_mode.h"

#include "ops/autocast.h"
#include "ops/elementwise.h"
#include "ops/internal.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

namespace {

// The kernel needs unit stride along one of the last two dims (a plain or transposed
// matrix); anything else is copied once.
Tensor gemm_ready(const Tensor& t) {
  const int64_t r = t.size(-2), c = t.size(-1);
  const int64_t sr = t.stride(-2), sc = t.stride(-1);
  if ((sc == 1 && (sr >= c || r <= 1)) || (sr == 1 && (sc >= r || c <= 1))) return t;
  return contiguous_raw(t);
}

// out[B,M,N] = a[B,M,K] @ b[B,K,N] with no autograd.
Tensor bmm_raw(const Tensor& a, const Tensor& b, DType dt) {
  DType cd = gemm_dtype(dt, a.device());
  Tensor a3 = gemm_ready(cast_raw(a, cd)), b3 = gemm_ready(cast_raw(b, cd));
  Tensor out = empty_on({a.size(0), a.size(1), b.size(2)}, cd, a.device());
  backend_of(a).bmm(a3, b3, out);
  return cast_raw(out, dt);
}

Tensor as3d(const Tensor& t) {  // [M,K] → [1,M,K] view, no autograd
  return make_view(t, {1, t.size(0), t.size(1)}, {t.size(0) * t.stride(0), t.stride(0), t.stride(1)}, t.storage_offset());
}

void check_matmul_args(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b, "other");
  check_same_device(op, a, b);
  ANNEAL_CHECK(a.dtype() == b.dtype(), TypeError, op, ": expected both operands to have the same dtype, but got ",
               dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  ANNEAL_CHECK(a.dtype() != DType::Bool && a.dtype() != DType::UInt8, TypeError, op, ": not supported for dtype ",
               dtype_name(a.dtype()));
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  if (auto c = detail::autocast_low({&a, &b})) return mm((*c)[0], (*c)[1]);
  check_matmul_args("mm", a, b);
  ANNEAL_CHECK(a.dim() == 2 && b.dim() == 2, ValueError, "mm: expected 2-D tensors, got ", a.shape_str(), " and ",
               b.shape_str());
  ANNEAL_CHECK(a.size(1) == b.size(0), ValueError, "mm: mat1 and mat2 shapes cannot be multiplied (", a.size(0), "x",
               a.size(1), " and ", b.size(0), "x", b.size(1), ")");
  Tensor out3 = bmm_raw(as3d(a), as3d(b), a.dtype());
  Tensor out = make_view(out3, {a.size(0), b.size(1)}, {b.size(1), 1}, 0);
  if (autograd::any_requires_grad({a, b})) {
    const bool ra = a.requires_grad(), rb = b.requires_grad();
    SavedTensor sa(rb ? a : Tensor(), false), sb(ra ? b : Tensor(), false);
    record("MmBackward0", {a, b}, {out}, [sa, sb, ra, rb](const TensorList& g) -> TensorList {
      return {ra ? mm(g[0], sb.unpack().t()) : Tensor(), rb ? mm(sa.unpack().t(), g[0]) : Tensor()};
    });
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  if (auto c = detail::autocast_low({&a, &b})) return bmm((*c)[0], (*c)[1]);
  check_matmul_args("bmm", a, b);
  ANNEAL_CHECK(a.dim() == 3 && b.dim() == 3, ValueError, "bmm: expected 3-D tensors, got ", a.shape_str(), " and ",
               b.shape_str());
  ANNEAL_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(1), ValueError, "bmm: shapes cannot be multiplied (",
               a.shape_str(), " and ", b.shape_str(), ")");
  Tensor out = bmm_raw(a, b, a.dtype());
  if (autograd::any_requires_grad({a, b})) {
    const bool ra = a.requires_grad(), rb = b.requires_grad();
    SavedTensor sa(rb ? a : Tensor(), false), sb(ra ? b : Tensor(), false);
    record("BmmBackward0", {a, b}, {out}, [sa, sb, ra, rb](const TensorList& g) -> TensorList {
      return {ra ? bmm(g[0], sb.unpack().mT()) : Tensor(), rb ? bmm(sa.unpack().mT(), g[0]) : Tensor()};
    });
  }
  return out;
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_defined("matmul", a_in);
  check_defined("matmul", b_in, "other");
  if (auto c = detail::autocast_low({&a_in, &b_in})) return matmul((*c)[0], (*c)[1]);
  ANNEAL_CHECK(a_in.dim() > 0 && b_in.dim() > 0, ValueError, "matmul: both arguments need at least 1 dimension, got ",
               a_in.dim(), "D and ", b_in.dim(), "D");
  DType dt = result_type({a_in, b_in});
  Tensor a = a_in.to(dt), b = b_in.to(dt);
  const bool a1 = a.dim() == 1, b1 = b.dim() == 1;
  if (a1 && b1) {
    ANNEAL_CHECK(a.size(0) == b.size(0), ValueError, "matmul: inconsistent tensor size, expected tensor [", a.size(0),
                 "] and src [", b.size(0), "] to have the same number of elements");
    return mm(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (a1) a = a.unsqueeze(0);
  if (b1) b = b.unsqueeze(1);
  ANNEAL_CHECK(a.size(-1) == b.size(-2), ValueError, "matmul: shapes cannot be multiplied (", a_in.shape_str(), " and ",
               b_in.shape_str(), ")");
  Tensor out;
  if (a.dim() == 2 && b.dim() == 2) {
    out = mm(a, b);
  } else if (b.dim() == 2) {
    // [..., M, K] @ [K, N]: one big product over all rows
    Shape lead(a.sizes().begin(), a.sizes().end() - 1);
    out = mm(a.reshape({-1, a.size(-1)}), b);
    lead.push_back(b.size(1));
    out = out.reshape(lead);
  } else {
    Shape ab(a.sizes().begin(), a.sizes().end() - 2), bb(b.sizes().begin(), b.sizes().end() - 2);
    Shape batch = broadcast_shapes("matmul", ab, bb);
    int64_t B = shape_numel(batch);
    Shape ae = batch, be = batch;
    ae.insert(ae.end(), {a.size(-2), a.size(-1)});
    be.insert(be.end(), {b.size(-2), b.size(-1)});
    Tensor a3 = a.expand(ae).reshape({B, a.size(-2), a.size(-1)});
    Tensor b3 = b.expand(be).reshape({B, b.size(-2), b.size(-1)});
    out = bmm(a3, b3);
    Shape os = batch;
    os.insert(os.end(), {a.size(-2), b.size(-1)});
    out = out.reshape(os);
  }
  if (a1) out = out.squeeze(-2);
  if (b1) out = out.squeeze(-1);
  return out;
}

Tensor addmm(const Tensor& c, const Tensor& a, const Tensor& b, Scalar beta, Scalar alpha) {
  Tensor p = mm(a, b);
  if (alpha.to_double() != 1.0) p = p * alpha;
  if (beta.to_double() == 0.0) return p;
  return beta.to_double() == 1.0 ? c + p : c * beta + p;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined("linear", x);
  check_defined("linear", weight, "weight");
  if (auto c = detail::autocast_low({&x, &weight, &bias})) return linear((*c)[0], (*c)[1], (*c)[2]);
  ANNEAL_CHECK(weight.dim() == 2, ValueError, "linear: weight must be 2-D [out_features, in_features], got ",
               weight.shape_str());
  ANNEAL_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), ValueError, "linear: input has ", x.dim() ? x.size(-1) : 0,
               " features (shape ", x.shape_str(), ") but weight expects ", weight.size(1), " (shape ",
               weight.shape_str(), ")");
  const bool plain = x.dtype() == weight.dtype() && (!bias.defined() || (bias.dtype() == x.dtype() && bias.dim() == 1 &&
                                                                         bias.size(0) == weight.size(0) &&
                                                                         bias.device() == x.device()));
  if (!plain || x.dim() == 1 || x.device() != weight.device()) {
    Tensor out = matmul(x, weight.t());  // promotion, broadcasting and their errors as matmul's
    return bias.defined() ? out + bias : out;
  }
  if (x.dim() > 2) {
    // [..., in] -> [rows, in] -> [rows, out] -> [..., out]
    Shape lead(x.sizes().begin(), x.sizes().end() - 1);
    lead.push_back(weight.size(0));
    return linear(x.reshape({-1, x.size(-1)}), weight, bias).reshape(lead);
  }
  check_matmul_args("linear", x, weight);
  // out[N, out] = x[N, in] @ W^T (+ b), one node whose backward writes dW as [out, in]
  // directly (g^T @ x): no transposed gradient to copy into the parameter's layout.
  Tensor out;
  if (bias.defined() && x.device().is_cuda()) {  // the bias as the product's epilogue
    out = empty_on({x.size(0), weight.size(0)}, x.dtype(), x.device());
    if (!backend_of(x).gemm_bias(gemm_ready(x), gemm_ready(weight.t()), contiguous_raw(bias), out)) out = Tensor();
  }
  if (!out.defined()) {
    Tensor out3 = bmm_raw(as3d(x), as3d(weight.t()), x.dtype());
    out = make_view(out3, {x.size(0), weight.size(0)}, {weight.size(0), 1}, 0);
    if (bias.defined()) {
      NoGradGuard no_grad;
      out.add_(bias);
    }
  }
  if (autograd::any_requires_grad({x, weight, bias})) {
    const bool rx = x.requires_grad(), rw = weight.requires_grad(), rb = bias.defined() && bias.requires_grad();
    SavedTensor sx(rw ? x : Tensor(), false), sw(rx ? weight : Tensor(), false);
    record("AddmmBackward0", {x, weight, bias}, {out}, [sx, sw, rx, rw, rb](const TensorList& g) -> TensorList {
      return {rx ? mm(g[0], sw.unpack()) : Tensor(), rw ? mm(g[0].t(), sx.unpack()) : Tensor(),
              rb ? g[0].sum({0}) : Tensor()};
    });
  }
  return out;
}

Tensor outer(const Tensor& a, const Tensor& b) {
  check_defined("outer", a);
  check_defined("outer", b, "vec2");
  ANNEAL_CHECK(a.dim() == 1 && b.dim() == 1, ValueError, "outer: expected 1-D vectors, got ", a.shape_str(), " and ",
               b.shape_str());
  return a.unsqueeze(1) * b.unsqueeze(0);
}

}  // namespace anneal
