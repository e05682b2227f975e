#include "ops/indexing.h"

#include "ops/elementwise.h"
#include "ops/internal.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

namespace {
Tensor index_tensor(const char* op, const Tensor& index) {
  check_defined(op, index, "index");
  ANNEAL_CHECK(is_integral(index.dtype()), TypeError, op, ": expected an integer index tensor (int64 or int32), got ",
               dtype_name(index.dtype()));
  return contiguous_raw(cast_raw(index, DType::Int64));
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("index_select", x);
  Tensor idx = index_tensor("index_select", index);
  check_same_device("index_select", x, idx);
  ANNEAL_CHECK(idx.dim() <= 1, ValueError, "index_select: index should have 1 dimension, got shape ", idx.shape_str());
  if (x.dim() == 0) return index_select(x.reshape({1}), 0, index).reshape({});
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Shape shape = x.sizes();
  shape[size_t(d)] = idx.numel();
  Tensor out = empty_on(shape, x.dtype(), x.device());
  backend_of(x).index_select(contiguous_raw(x), d, idx, out);
  record("IndexSelectBackward0", {x}, {out}, [d, idx, shape = x.sizes()](const TensorList& g) -> TensorList {
    return {index_add(zeros(shape, {g[0].dtype(), g[0].device()}), d, idx, g[0])};
  });
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("index_add", x);
  check_defined("index_add", src, "source");
  Tensor idx = index_tensor("index_add", index);
  ANNEAL_CHECK(x.dim() > 0 && idx.dim() <= 1, ValueError, "index_add: expected an input with at least 1 dim and a 1-D index, got ",
               x.shape_str(), " and ", idx.shape_str());
  int64_t d = wrap_dim(dim, x.dim(), "index_add");
  Shape expect = x.sizes();
  expect[size_t(d)] = idx.numel();
  ANNEAL_CHECK(src.sizes() == expect, ValueError, "index_add: source has shape ", src.shape_str(), ", expected ",
               shape_to_string(expect), " (input ", x.shape_str(), " with ", idx.numel(), " indices along dim ", d, ")");
  Tensor out = empty_on(x.sizes(), x.dtype(), x.device());
  backend_of(x).copy(out, x);
  backend_of(x).index_add(out, d, idx, contiguous_raw(cast_raw(src, x.dtype())));
  record("IndexAddBackward0", {x, src}, {out}, [d, idx](const TensorList& g) -> TensorList {
    return {g[0], index_select(g[0], d, idx)};
  });
  return out;
}

static void check_gather_shapes(const char* op, const Tensor& x, int64_t d, const Tensor& idx) {
  ANNEAL_CHECK(idx.dim() == x.dim(), ValueError, op, ": index tensor must have the same number of dimensions as input ",
               "(", idx.dim(), " vs ", x.dim(), ")");
  for (int64_t k = 0; k < x.dim(); ++k)
    ANNEAL_CHECK(k == d || idx.size(k) <= x.size(k), ValueError, op, ": size of index ", idx.shape_str(),
                 " exceeds the input ", x.shape_str(), " at dimension ", k);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("gather", x);
  Tensor idx = index_tensor("gather", index);
  ANNEAL_CHECK(x.dim() > 0, ValueError, "gather: expected an input with at least 1 dim");
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  check_gather_shapes("gather", x, d, idx);
  Tensor out = empty_on(idx.sizes(), x.dtype(), x.device());
  backend_of(x).gather(contiguous_raw(x), d, idx, out);
  record("GatherBackward0", {x}, {out}, [d, idx, shape = x.sizes()](const TensorList& g) -> TensorList {
    return {scatter_add(zeros(shape, {g[0].dtype(), g[0].device()}), d, idx, g[0])};
  });
  return out;
}

static Tensor scatter_impl(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  const char* op = accumulate ? "scatter_add" : "scatter";
  check_defined(op, x);
  check_defined(op, src, "src");
  Tensor idx = index_tensor(op, index);
  ANNEAL_CHECK(x.dim() > 0, ValueError, op, ": expected an input with at least 1 dim");
  int64_t d = wrap_dim(dim, x.dim(), op);
  check_gather_shapes(op, x, d, idx);
  ANNEAL_CHECK(src.dim() == idx.dim(), ValueError, op, ": src must have as many dims as index");
  for (int64_t k = 0; k < idx.dim(); ++k)
    ANNEAL_CHECK(idx.size(k) <= src.size(k), ValueError, op, ": index ", idx.shape_str(), " is larger than src ",
                 src.shape_str(), " at dimension ", k);
  // only the part of src that index covers takes part
  Tensor used = src;
  for (int64_t k = 0; k < idx.dim(); ++k)
    if (used.size(k) != idx.size(k)) used = used.narrow(k, 0, idx.size(k));
  Tensor out = empty_on(x.sizes(), x.dtype(), x.device());
  backend_of(x).copy(out, x);
  backend_of(x).scatter(out, d, idx, contiguous_raw(cast_raw(used, x.dtype())), accumulate);
  record(accumulate ? "ScatterAddBackward0" : "ScatterBackward0", {x, used}, {out},
         [d, idx, accumulate](const TensorList& g) -> TensorList {
           Tensor gx = accumulate ? g[0] : scatter(g[0], d, idx, 0.0);
           return {gx, gather(g[0], d, idx)};
         });
  return out;
}
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, false);
}
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value) {
  check_defined("scatter", x);
  return scatter_impl(x, dim, index, full(index.sizes(), value, {x.dtype(), x.device()}), false);
}
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, true);
}

Tensor nonzero(const Tensor& x) {
  check_defined("nonzero", x);
  return backend_of(x).nonzero(contiguous_raw(x));
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  check_defined("masked_select", x);
  check_defined("masked_select", mask, "mask");
  ANNEAL_CHECK(mask.dtype() == DType::Bool, TypeError, "index: expected a bool mask, got ", dtype_name(mask.dtype()));
  ANNEAL_CHECK(mask.dim() <= x.dim(), IndexError, "index: too many indices for tensor of dimension ", x.dim(),
               " (mask has ", mask.dim(), ")");
  for (int64_t k = 0; k < mask.dim(); ++k)
    ANNEAL_CHECK(mask.size(k) == x.size(k), IndexError, "index: the shape of the mask ", mask.shape_str(),
                 " does not match the shape of the indexed tensor ", x.shape_str(), " at index ", k);
  Tensor nz = nonzero(mask);  // [count, mask.dim]
  Shape st = contiguous_strides(mask.sizes());
  Tensor lin = zeros({nz.size(0)}, {DType::Int64, x.device()});
  for (int64_t k = 0; k < mask.dim(); ++k) lin = lin + nz.select(1, k) * st[size_t(k)];
  Shape rows = {shape_numel(mask.sizes())};
  rows.insert(rows.end(), x.sizes().begin() + mask.dim(), x.sizes().end());
  return index_select(x.reshape(rows), 0, lin);
}

Tensor index(const Tensor& x, const Tensor& indices) {
  check_defined("index", indices, "indices");
  if (indices.dtype() == DType::Bool) return masked_select(x, indices);
  check_defined("index", x);
  ANNEAL_CHECK(x.dim() > 0, IndexError, "index: cannot index a 0-dim tensor with a tensor");
  Shape shape = indices.sizes();
  shape.insert(shape.end(), x.sizes().begin() + 1, x.sizes().end());
  return index_select(x, 0, indices.reshape({-1})).reshape(shape);
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  Tensor idx = index_tensor("one_hot", indices);
  if (idx.numel() > 0) {
    int64_t lo = amin(idx).item<int64_t>(), hi = amax(idx).item<int64_t>();
    ANNEAL_CHECK(lo >= 0, ValueError, "one_hot: class values must be non-negative, got ", lo);
    if (num_classes < 0) num_classes = hi + 1;
    ANNEAL_CHECK(hi < num_classes, ValueError, "one_hot: class value ", hi, " is out of range for ", num_classes,
                 " classes");
  }
  ANNEAL_CHECK(num_classes >= 0, ValueError, "one_hot: can not infer the number of classes from an empty tensor");
  return eq(idx.unsqueeze(-1), arange(num_classes, TensorOptions(DType::Int64, idx.device()))).to(DType::Int64);
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  check_defined("embedding", weight, "weight");
  ANNEAL_CHECK(weight.dim() == 2, ValueError, "embedding: weight must be 2-D [num_embeddings, dim], got ",
               weight.shape_str());
  Tensor idx = index_tensor("embedding", indices);
  Shape shape = idx.sizes();
  shape.push_back(weight.size(1));
  Tensor out = index_select(weight, 0, idx.reshape({-1})).reshape(shape);
  if (padding_idx && weight.requires_grad()) {
    // same values, but no gradient flows into the padding row
    int64_t p = *padding_idx < 0 ? *padding_idx + weight.size(0) : *padding_idx;
    Tensor is_pad = (idx == p).unsqueeze(-1);
    out = where(is_pad, out.detach(), out);
  }
  return out;
}

}  // namespace anneal
