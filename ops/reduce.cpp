#include "ops/reduce.h"

#include <cmath>

#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/internal.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

namespace {

struct ReducePlan {
  IntList dims;  // sorted, unique
  Shape out_keep;             // output shape with kept (size-1) reduced dims
  Shape out_shape;            // final output shape
  int64_t count = 1;          // elements reduced into each output
};

ReducePlan plan(const char* op, const Tensor& x, const IntList& dims, bool keepdim) {
  ReducePlan p;
  if (dims.empty()) {
    for (int64_t i = 0; i < x.dim(); ++i) p.dims.push_back(i);
  } else {
    p.dims = normalize_dims(op, dims, x.dim());
    if (x.dim() == 0) p.dims.clear();
  }
  std::vector<bool> red(size_t(x.dim()), false);
  for (int64_t d : p.dims) red[size_t(d)] = true;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (red[size_t(i)]) {
      p.count *= x.size(i);
      p.out_keep.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.out_keep.push_back(x.size(i));
      p.out_shape.push_back(x.size(i));
    }
  }
  return p;
}

// Brings `x` to a contiguous [outer, r, inner] and runs the kernel; no autograd.
Tensor reduce_raw(ReduceOp op, const Tensor& x, const ReducePlan& p, DType out_dtype) {
  const int64_t nd = x.dim();
  std::vector<bool> red(size_t(nd), false);
  for (int64_t d : p.dims) red[size_t(d)] = true;
  // Reduced dims forming one block of a contiguous tensor reduce in place; otherwise
  // permute kept dims first and copy.
  bool block = x.is_contiguous();
  int64_t first = p.dims.empty() ? nd : p.dims.front(), last = p.dims.empty() ? nd - 1 : p.dims.back();
  for (int64_t d = first; d <= last && block; ++d) block = red[size_t(d)];
  const bool associative = op != ReduceOp::ArgMax && op != ReduceOp::ArgMin;
  if (!block && associative && x.is_contiguous() && x.numel() > 0) {
    // Several separate runs of reduced dims (a channel statistic over N, H, W): reduce
    // the last run in place, then the rest of the (smaller) result, instead of copying
    // the whole input into a permuted layout first.
    int64_t run_end = last, run_start = last;
    while (run_start > 0 && red[size_t(run_start - 1)]) --run_start;
    ReducePlan tail;
    for (int64_t d = run_start; d <= run_end; ++d) tail.dims.push_back(d);
    tail.count = 1;
    for (int64_t d = 0; d < nd; ++d) {
      bool r_d = d >= run_start && d <= run_end;
      tail.out_keep.push_back(r_d ? 1 : x.size(d));
      tail.out_shape.push_back(r_d ? 1 : x.size(d));
      if (r_d) tail.count *= x.size(d);
    }
    Tensor partial = reduce_raw(op, x, tail, out_dtype == DType::Bool ? DType::Bool : out_dtype);
    ReducePlan rest = p;
    rest.dims.clear();
    rest.count = 1;
    for (int64_t d : p.dims)
      if (d < run_start) {
        rest.dims.push_back(d);
        rest.count *= x.size(d);
      }
    return reduce_raw(op, partial, rest, out_dtype).reshape(p.out_shape);
  }
  Tensor in;
  int64_t outer = 1, r = p.count, inner = 1;
  if (block) {
    for (int64_t d = 0; d < first; ++d) outer *= x.size(d);
    for (int64_t d = last + 1; d < nd; ++d) inner *= x.size(d);
    in = x;
  } else {
    IntList perm;
    for (int64_t d = 0; d < nd; ++d)
      if (!red[size_t(d)]) {
        perm.push_back(d);
        outer *= x.size(d);
      }
    for (int64_t d : p.dims) perm.push_back(d);
    Shape sz, st;
    for (int64_t d : perm) {
      sz.push_back(x.size(d));
      st.push_back(x.stride(d));
    }
    in = contiguous_raw(make_view(x, sz, st, x.storage_offset()));
  }
  Tensor in3 = make_view(in, {outer, r, inner}, {r * inner, inner, 1}, in.storage_offset());
  Tensor out = empty_on(p.out_shape, out_dtype, x.device());
  if (x.numel() == 0 || r == 0) {
    ANNEAL_CHECK(op == ReduceOp::Sum || op == ReduceOp::Prod || op == ReduceOp::All || op == ReduceOp::Any, IndexError,
                 "reduction over a zero-size dimension has no identity (max/min/argmax of an empty tensor)");
    backend_of(x).fill(out, op == ReduceOp::Prod || op == ReduceOp::All ? 1 : 0);
    return out;
  }
  Tensor out2 = make_view(out, {outer, inner}, {inner, 1}, 0);
  backend_of(x).reduce(op, in3, out2);
  return out;
}

// Expands a reduced gradient back over the reduced dims.
Tensor expand_back(const Tensor& g, const ReducePlan& p, const Shape& in_shape) {
  return g.reshape(p.out_keep).expand(in_shape);
}

}  // namespace

Tensor sum(const Tensor& x, const IntList& dims, bool keepdim, std::optional<DType> dtype) {
  check_defined("sum", x);
  ReducePlan p = plan("sum", x, dims, keepdim);
  DType d = dtype.value_or(is_integral(x.dtype(), true) ? DType::Int64 : x.dtype());
  Tensor out = reduce_raw(ReduceOp::Sum, cast_raw(x, d), p, d);
  record("SumBackward1", {x}, {out}, [p, shape = x.sizes()](const TensorList& g) -> TensorList {
    return {expand_back(g[0], p, shape)};
  });
  return out;
}

Tensor mean(const Tensor& x, const IntList& dims, bool keepdim) {
  check_defined("mean", x);
  ANNEAL_CHECK(is_floating(x.dtype()), TypeError, "mean: could not infer output dtype. Input dtype must be floating "
               "point, got ", dtype_name(x.dtype()));
  ReducePlan p = plan("mean", x, dims, keepdim);
  Tensor s = reduce_raw(ReduceOp::Sum, x, p, x.dtype());
  Tensor out = empty_like(s);
  backend_of(x).binary(BinaryOp::Div, s, expand_raw(full({}, double(p.count), {x.dtype(), x.device()}), s.sizes()), out);
  record("MeanBackward1", {x}, {out}, [p, shape = x.sizes()](const TensorList& g) -> TensorList {
    return {expand_back(g[0], p, shape) / double(p.count)};
  });
  return out;
}

Tensor prod(const Tensor& x, const IntList& dims, bool keepdim) {
  check_defined("prod", x);
  ReducePlan p = plan("prod", x, dims, keepdim);
  DType d = is_integral(x.dtype(), true) ? DType::Int64 : x.dtype();
  Tensor out = reduce_raw(ReduceOp::Prod, cast_raw(x, d), p, d);
  if (autograd::any_requires_grad({x})) {
    SavedTensor sx(x, false);
    auto so = std::make_shared<SavedTensor>();
    record("ProdBackward1", {x}, {out}, [p, sx, so](const TensorList& g) -> TensorList {
      Tensor in = sx.unpack(), y = so->unpack();
      Shape shape = in.sizes();
      Tensor is_zero = in == 0;
      Tensor zeros_per = sum(is_zero, p.dims, true);            // zero count per output
      Tensor safe = where(is_zero, 1.0, in);
      Tensor prod_nonzero = prod(safe, p.dims, true);           // product of the non-zeros
      Tensor gk = g[0].reshape(p.out_keep);
      Tensor yk = y.reshape(p.out_keep);
      // no zeros: y / x; exactly one zero: the product of the others at that place
      Tensor grad = where(zeros_per == 0, gk * yk / safe,
                          where(logical_and(zeros_per == 1, is_zero), gk * prod_nonzero, 0.0));
      return {grad.expand(shape)};
    });
    *so = SavedTensor(out, true);
  }
  return out;
}

static Tensor amax_amin(const Tensor& x, const IntList& dims, bool keepdim, bool is_max) {
  const char* name = is_max ? "amax" : "amin";
  check_defined(name, x);
  ReducePlan p = plan(name, x, dims, keepdim);
  Tensor out = reduce_raw(is_max ? ReduceOp::Max : ReduceOp::Min, x, p, x.dtype());
  if (autograd::any_requires_grad({x})) {
    SavedTensor sx(x, false);
    auto so = std::make_shared<SavedTensor>();
    record(is_max ? "AmaxBackward0" : "AminBackward0", {x}, {out}, [p, sx, so](const TensorList& g) -> TensorList {
      Tensor in = sx.unpack();
      Tensor hit = (in == so->unpack().reshape(p.out_keep)).to(in.dtype());
      Tensor count = sum(hit, p.dims, true);
      return {g[0].reshape(p.out_keep) * hit / count};
    });
    *so = SavedTensor(out, true);
  }
  return out;
}
Tensor amax(const Tensor& x, const IntList& dims, bool keepdim) { return amax_amin(x, dims, keepdim, true); }
Tensor amin(const Tensor& x, const IntList& dims, bool keepdim) { return amax_amin(x, dims, keepdim, false); }
Tensor max(const Tensor& x) { return amax(x); }
Tensor min(const Tensor& x) { return amin(x); }

static Tensor arg_reduce(const Tensor& x, std::optional<int64_t> dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  check_defined(name, x);
  if (!dim) {  // over everything: the index into the flattened tensor
    Tensor flat = reshape_raw(x, {x.numel()});
    return arg_reduce(flat, 0, false, is_max).reshape(keepdim ? Shape(size_t(x.dim()), 1) : Shape{});
  }
  ReducePlan p = plan(name, x, {*dim}, keepdim);
  return reduce_raw(is_max ? ReduceOp::ArgMax : ReduceOp::ArgMin, x, p, DType::Int64);
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_reduce(x, dim, keepdim, true); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_reduce(x, dim, keepdim, false); }

static std::tuple<Tensor, Tensor> max_min_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  check_defined(name, x);
  int64_t d = wrap_dim(dim, x.dim(), name);
  Tensor idx = is_max ? argmax(x, d, true) : argmin(x, d, true);
  // values = the selected elements; gathering keeps autograd on the values
  Tensor values = x.dim() == 0 ? x.clone() : gather(x, d, idx);
  if (!keepdim && x.dim() > 0) {
    values = values.squeeze(d);
    idx = idx.squeeze(d);
  }
  return {values, idx};
}
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) { return max_min_dim(x, dim, keepdim, true); }
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) { return max_min_dim(x, dim, keepdim, false); }

Tensor var(const Tensor& x, const IntList& dims, bool unbiased, bool keepdim) {
  check_defined("var", x);
  ANNEAL_CHECK(is_floating(x.dtype()), TypeError, "var: expected a floating input, got ", dtype_name(x.dtype()));
  ReducePlan p = plan("var", x, dims, keepdim);
  IntList ds(p.dims.begin(), p.dims.end());
  Tensor centered = x - mean(x, ds, true);
  double denom = double(p.count) - (unbiased ? 1.0 : 0.0);
  return sum(centered * centered, ds, keepdim) / std::max(denom, 0.0);
}
Tensor std(const Tensor& x, const IntList& dims, bool unbiased, bool keepdim) {
  return sqrt(var(x, dims, unbiased, keepdim));
}

Tensor logsumexp(const Tensor& x, const IntList& dims, bool keepdim) {
  check_defined("logsumexp", x);
  Tensor xf = x.to(float_compute_dtype(x.dtype()));
  Tensor m = amax(xf, dims, true).detach();
  m = where(isnan(m) || (abs(m) == INFINITY), 0.0, m);  // keep inf inputs finite in the shift
  Tensor out = log(sum(exp(xf - m), dims, true)) + m;
  if (!keepdim) {
    ReducePlan p = plan("logsumexp", x, dims, false);
    out = out.reshape(p.out_shape);
  }
  return out;
}

Tensor norm(const Tensor& x, double p, const IntList& dims, bool keepdim) {
  check_defined("norm", x);
  ANNEAL_CHECK(is_floating(x.dtype()), TypeError, "norm: expected a floating input, got ", dtype_name(x.dtype()));
  if (p == INFINITY) return amax(abs(x), dims, keepdim);
  if (p == -INFINITY) return amin(abs(x), dims, keepdim);
  if (p == 1) return sum(abs(x), dims, keepdim);
  if (p == 0) return sum(ne(x, 0).to(x.dtype()), dims, keepdim);
  if (p == 2) {
    ReducePlan pl = plan("norm", x, dims, keepdim);
    Tensor out;
    {
      NoGradGuard ng;
      out = sqrt(sum(x * x, dims, keepdim));
    }
    if (autograd::any_requires_grad({x})) {
      SavedTensor sx(x, false);
      auto so = std::make_shared<SavedTensor>();
      record("NormBackward1", {x}, {out}, [pl, sx, so](const TensorList& g) -> TensorList {
        Tensor n = so->unpack().reshape(pl.out_keep);
        // the subgradient 0 at the origin, as PyTorch gives
        return {where(n == 0, 0.0, g[0].reshape(pl.out_keep) * sx.unpack() / n)};
      });
      *so = SavedTensor(out, true);
    }
    return out;
  }
  return pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
}

Tensor all(const Tensor& x, const IntList& dims, bool keepdim) {
  check_defined("all", x);
  ReducePlan p = plan("all", x, dims, keepdim);
  return reduce_raw(ReduceOp::All, cast_raw(x, DType::Bool), p, DType::Bool);
}
Tensor any(const Tensor& x, const IntList& dims, bool keepdim) {
  check_defined("any", x);
  ReducePlan p = plan("any", x, dims, keepdim);
  return reduce_raw(ReduceOp::Any, cast_raw(x, DType::Bool), p, DType::Bool);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.sizes() == shape) return x;
  const int64_t lead = x.dim() - int64_t(shape.size());
  ANNEAL_CHECK(lead >= 0, ValueError, "sum_to: cannot sum ", x.shape_str(), " to ", shape_to_string(shape));
  IntList dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) dims.push_back(i);
    else if (shape[size_t(i - lead)] == 1 && x.size(i) != 1) dims.push_back(i);
    else
      ANNEAL_CHECK(shape[size_t(i - lead)] == x.size(i), ValueError, "sum_to: cannot sum ", x.shape_str(), " to ",
                   shape_to_string(shape));
  }
  Tensor r = dims.empty() ? x : sum(x, dims, true);
  return r.reshape(shape);
}

}  // namespace anneal
