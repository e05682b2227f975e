#include "ops/shape.h"

#include <algorithm>
#include <numeric>

#include "ops/elementwise.h"
#include "ops/internal.h"
#include "ops/indexing.h"
#include "ops/reduce.h"

namespace anneal {
using namespace detail;
using autograd::record;

namespace {

Tensor view_of(const Tensor& x, Shape sizes, Shape strides, int64_t offset) {
  Tensor v = make_view(x, std::move(sizes), std::move(strides), offset);
  mark_view(v);
  return v;
}

// The gradient of a view: zeros of the input's shape with `g` written through the same
// view. Differentiable: its own backward is the view applied to the incoming gradient.
using ViewFn = std::function<Tensor(const Tensor&)>;
Tensor view_scatter(const Tensor& g, const Shape& in_shape, const ViewFn& view_fn, const char* name) {
  Tensor z = zeros(in_shape, {g.dtype(), g.device()});
  {
    NoGradGuard ng;
    Tensor dst = view_fn(z);
    backend_of(z).copy(dst, expand_raw(g, dst.sizes()));
  }
  record(name, {g}, {z}, [view_fn](const TensorList& gg) -> TensorList { return {view_fn(gg[0])}; });
  return z;
}

void record_view(const char* name, const Tensor& x, const Tensor& out, ViewFn fn, const char* bw_name) {
  if (!autograd::any_requires_grad({x})) return;
  record(name, {x}, {out}, [fn, shape = x.sizes(), bw_name](const TensorList& g) -> TensorList {
    return {view_scatter(g[0], shape, fn, bw_name)};
  });
}

}  // namespace

Tensor view(const Tensor& x, const IntList& shape) {
  check_defined("view", x);
  Shape s = infer_shape("view", shape, x.numel());
  auto st = view_strides(x.sizes(), x.strides(), s);
  ANNEAL_CHECK(st.has_value(), ValueError, "view: size ", shape_to_string(s), " is not compatible with input tensor's "
               "size ", x.shape_str(), " and stride ", shape_to_string(x.strides()),
               " (at least one dimension spans across two contiguous subspaces). Use reshape instead.");
  Tensor out = view_of(x, s, *st, x.storage_offset());
  record("ViewBackward0", {x}, {out}, [shape = x.sizes()](const TensorList& g) -> TensorList {
    return {g[0].reshape(shape)};
  });
  return out;
}

Tensor reshape(const Tensor& x, const IntList& shape) {
  check_defined("reshape", x);
  Shape s = infer_shape("reshape", shape, x.numel());
  if (view_strides(x.sizes(), x.strides(), s)) return view(x, s);
  return view(contiguous(x), s);
}

Tensor permute(const Tensor& x, const IntList& dims) {
  check_defined("permute", x);
  ANNEAL_CHECK(int64_t(dims.size()) == x.dim(), ValueError, "permute: number of dims don't match in permute (input has ",
               x.dim(), " dims, got ", dims.size(), ")");
  std::vector<int64_t> d;
  std::vector<bool> seen(dims.size(), false);
  for (int64_t v : dims) {
    int64_t w = wrap_dim(v, x.dim(), "permute");
    ANNEAL_CHECK(!seen[size_t(w)], ValueError, "permute: repeated dim ", w, " in ", shape_to_string(dims));
    seen[size_t(w)] = true;
    d.push_back(w);
  }
  Shape sz, st;
  for (int64_t v : d) {
    sz.push_back(x.size(v));
    st.push_back(x.stride(v));
  }
  Tensor out = view_of(x, sz, st, x.storage_offset());
  if (autograd::any_requires_grad({x})) {
    IntList inv(d.size());
    for (size_t i = 0; i < d.size(); ++i) inv[size_t(d[i])] = int64_t(i);
    record("PermuteBackward0", {x}, {out}, [inv](const TensorList& g) -> TensorList { return {g[0].permute(inv)}; });
  }
  return out;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  check_defined("transpose", x);
  if (x.dim() == 0) return x;
  IntList perm(size_t(x.dim()));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[size_t(wrap_dim(d0, x.dim(), "transpose"))], perm[size_t(wrap_dim(d1, x.dim(), "transpose"))]);
  return permute(x, perm);
}

Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  check_defined("slice", x);
  ANNEAL_CHECK(x.dim() > 0, IndexError, "slice: cannot slice a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "slice");
  ANNEAL_CHECK(step > 0, ValueError, "slice: step must be positive, got ", step);
  const int64_t n = x.size(d);
  auto clampi = [n](int64_t v) { return v < 0 ? std::max<int64_t>(v + n, 0) : std::min(v, n); };
  int64_t s = clampi(start.value_or(0)), e = clampi(end.value_or(n));
  int64_t len = e > s ? (e - s + step - 1) / step : 0;
  Shape sz = x.sizes(), st = x.strides();
  sz[size_t(d)] = len;
  st[size_t(d)] *= step;
  Tensor out = view_of(x, sz, st, x.storage_offset() + s * x.stride(d));
  record_view("SliceBackward0", x, out, [d, s, e, step](const Tensor& t) { return t.slice(d, s, e, step); },
              "SliceBackwardBackward0");
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  check_defined("narrow", x);
  int64_t d = wrap_dim(dim, x.dim(), "narrow");
  const int64_t n = x.size(d);
  if (start < 0) start += n;
  ANNEAL_CHECK(start >= 0 && length >= 0 && start + length <= n, IndexError, "narrow: start (", start,
               ") + length (", length, ") exceeds dimension size (", n, ") of dim ", d);
  return slice(x, d, start, start + length, 1);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  check_defined("select", x);
  ANNEAL_CHECK(x.dim() > 0, IndexError, "select: cannot index a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "select");
  const int64_t n = x.size(d);
  ANNEAL_CHECK(index >= -n && index < n, IndexError, "select: index ", index, " is out of bounds for dimension ", d,
               " with size ", n);
  if (index < 0) index += n;
  Shape sz = x.sizes(), st = x.strides();
  int64_t off = x.storage_offset() + index * st[size_t(d)];
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = view_of(x, sz, st, off);
  record_view("SelectBackward0", x, out, [d, index](const Tensor& t) { return t.select(d, index); },
              "SelectBackwardBackward0");
  return out;
}

Tensor expand(const Tensor& x, const IntList& shape) {
  check_defined("expand", x);
  Shape s(shape.begin(), shape.end());
  const int64_t lead = int64_t(s.size()) - x.dim();
  ANNEAL_CHECK(lead >= 0, ValueError, "expand: the number of sizes provided (", s.size(),
               ") must be greater or equal to the number of dimensions in the tensor (", x.dim(), ")");
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == -1) {
      ANNEAL_CHECK(int64_t(i) >= lead, ValueError, "expand: -1 is not allowed in a leading, non-existing dimension");
      s[i] = x.size(int64_t(i) - lead);
    }
  Tensor out = expand_raw(x, s);
  if (out.is_same(x)) return x;
  record("ExpandBackward0", {x}, {out}, [shape = x.sizes()](const TensorList& g) -> TensorList {
    return {sum_to(g[0], shape)};
  });
  return out;
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  check_defined("squeeze", x);
  Shape s;
  if (dim) {
    int64_t d = wrap_dim(*dim, x.dim(), "squeeze");
    for (int64_t i = 0; i < x.dim(); ++i)
      if (i != d || x.size(i) != 1) s.push_back(x.size(i));
  } else {
    for (int64_t v : x.sizes())
      if (v != 1) s.push_back(v);
  }
  return view(x, s);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  check_defined("unsqueeze", x);
  int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.sizes();
  s.insert(s.begin() + d, 1);
  return view(x, s);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  check_defined("flatten", x);
  if (x.dim() == 0) return reshape(x, {1});
  int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  ANNEAL_CHECK(s <= e, ValueError, "flatten: start_dim cannot come after end_dim");
  Shape shape;
  for (int64_t i = 0; i < s; ++i) shape.push_back(x.size(i));
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= x.size(i);
  shape.push_back(m);
  for (int64_t i = e + 1; i < x.dim(); ++i) shape.push_back(x.size(i));
  return reshape(x, shape);
}

Tensor unflatten(const Tensor& x, int64_t dim, const IntList& sizes) {
  check_defined("unflatten", x);
  int64_t d = wrap_dim(dim, x.dim(), "unflatten");
  Shape inner = infer_shape("unflatten", sizes, x.size(d));
  Shape shape(x.sizes().begin(), x.sizes().begin() + d);
  shape.insert(shape.end(), inner.begin(), inner.end());
  shape.insert(shape.end(), x.sizes().begin() + d + 1, x.sizes().end());
  return view(x, shape);
}

Tensor as_strided(const Tensor& x, const IntList& sizes, const IntList& strides, std::optional<int64_t> offset) {
  check_defined("as_strided", x);
  ANNEAL_CHECK(sizes.size() == strides.size(), ValueError, "as_strided: got ", sizes.size(), " sizes but ",
               strides.size(), " strides");
  int64_t off = offset.value_or(x.storage_offset());
  ANNEAL_CHECK(off >= 0, ValueError, "as_strided: negative storage offset ", off);
  int64_t max_index = off;
  bool empty = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    ANNEAL_CHECK(sizes[i] >= 0 && strides[i] >= 0, ValueError, "as_strided: negative size or stride (sizes ",
                 shape_to_string(sizes), ", strides ", shape_to_string(strides), ")");
    if (sizes[i] == 0) empty = true;
    else max_index += (sizes[i] - 1) * strides[i];
  }
  const int64_t storage_elems = int64_t(x.impl()->storage()->nbytes() / x.element_size());
  ANNEAL_CHECK(empty || max_index < storage_elems, ValueError, "as_strided: setStorage: sizes ", shape_to_string(sizes),
               ", strides ", shape_to_string(strides), ", storage offset ", off, " require a storage of ",
               max_index + 1, " elements, but the storage has only ", storage_elems);
  Tensor out = view_of(x, sizes, strides, off);
  if (autograd::any_requires_grad({x})) {
    // The gradient adds each output element back at the storage place it came from
    // (elements read twice get both contributions), mapped onto x's own elements.
    ANNEAL_CHECK(x.is_contiguous(), NotImplementedError,
                 "as_strided: backward needs a contiguous input; call contiguous() first");
    record("AsStridedBackward0", {x}, {out},
           [sizes, strides, off, base = x.storage_offset(), shape = x.sizes()](const TensorList& g) -> TensorList {
             Tensor flat_index = zeros(Shape(sizes.begin(), sizes.end()), {DType::Int64, g[0].device()});
             for (size_t i = 0; i < sizes.size(); ++i) {
               Shape vs(sizes.size(), 1);
               vs[i] = sizes[i];
               flat_index = flat_index + arange(sizes[i], TensorOptions(DType::Int64, g[0].device())).reshape(vs) * strides[i];
             }
             flat_index = flat_index + (off - base);
             Tensor gi = zeros({shape_numel(shape)}, {g[0].dtype(), g[0].device()});
             gi = index_add(gi, 0, flat_index.reshape({-1}), g[0].reshape({-1}));
             return {gi.reshape(shape)};
           });
  }
  return out;
}

Tensor cat(const TensorList& xs, int64_t dim) {
  ANNEAL_CHECK(!xs.empty(), ValueError, "cat: expected a non-empty list of tensors");
  for (auto& t : xs) check_defined("cat", t);
  // 1-D empty tensors are skipped, as in PyTorch (legacy behaviour users rely on)
  TensorList parts;
  for (auto& t : xs)
    if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(t);
  if (parts.empty()) return xs[0].clone();
  const Tensor& ref = parts[0];
  ANNEAL_CHECK(ref.dim() > 0, ValueError, "cat: zero-dimensional tensor cannot be concatenated");
  int64_t d = wrap_dim(dim, ref.dim(), "cat");
  DType dt = result_type(parts);
  Shape shape = ref.sizes();
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    check_same_device("cat", ref, t);
    ANNEAL_CHECK(t.dim() == ref.dim(), ValueError, "cat: tensors must have same number of dimensions: got ", ref.dim(),
                 " and ", t.dim());
    for (int64_t k = 0; k < ref.dim(); ++k)
      ANNEAL_CHECK(k == d || t.size(k) == ref.size(k), ValueError, "cat: sizes of tensors must match except in dimension ",
                   d, ". Expected size ", ref.size(k), " but got size ", t.size(k), " for tensor number ", i,
                   " in the list");
    total += t.size(d);
  }
  shape[size_t(d)] = total;
  Tensor out = empty_on(shape, dt, ref.device());
  IntList sizes;
  int64_t off = 0;
  for (auto& t : parts) {
    Shape st = out.strides();
    Shape sz = out.sizes();
    sz[size_t(d)] = t.size(d);
    backend_of(out).copy(make_view(out, sz, st, off * out.stride(d)), cast_raw(t, dt));
    off += t.size(d);
    sizes.push_back(t.size(d));
  }
  record("CatBackward0", parts, {out}, [d, sizes](const TensorList& g) -> TensorList {
    return split_with_sizes(g[0], sizes, d);
  });
  return out;
}

Tensor stack(const TensorList& xs, int64_t dim) {
  ANNEAL_CHECK(!xs.empty(), ValueError, "stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < xs.size(); ++i) {
    check_defined("stack", xs[i]);
    ANNEAL_CHECK(xs[i].sizes() == xs[0].sizes(), ValueError, "stack: expects each tensor to be equal size, but got ",
                 xs[0].shape_str(), " at entry 0 and ", xs[i].shape_str(), " at entry ", i);
  }
  int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  TensorList us;
  for (auto& t : xs) us.push_back(unsqueeze(t, d));
  return cat(us, d);
}

TensorList split_with_sizes(const Tensor& x, const IntList& sizes, int64_t dim) {
  check_defined("split_with_sizes", x);
  int64_t d = wrap_dim(dim, x.dim(), "split_with_sizes");
  int64_t total = 0;
  for (int64_t s : sizes) {
    ANNEAL_CHECK(s >= 0, ValueError, "split_with_sizes: negative size ", s);
    total += s;
  }
  ANNEAL_CHECK(total == x.size(d), ValueError, "split_with_sizes: sizes ", shape_to_string(sizes),
               " must sum to the size of dim ", d, " (", x.size(d), ")");
  TensorList out;
  int64_t off = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, d, off, s));
    off += s;
  }
  return out;
}

TensorList split(const Tensor& x, int64_t split_size, int64_t dim) {
  check_defined("split", x);
  ANNEAL_CHECK(split_size > 0, ValueError, "split: split_size must be positive, got ", split_size);
  int64_t d = wrap_dim(dim, x.dim(), "split");
  IntList sizes;
  for (int64_t off = 0; off < x.size(d); off += split_size) sizes.push_back(std::min(split_size, x.size(d) - off));
  if (sizes.empty()) sizes.push_back(0);
  return split_with_sizes(x, sizes, d);
}

TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  check_defined("chunk", x);
  ANNEAL_CHECK(chunks > 0, ValueError, "chunk: chunks must be positive, got ", chunks);
  int64_t d = wrap_dim(dim, x.dim(), "chunk");
  int64_t size = (x.size(d) + chunks - 1) / chunks;
  return split(x, std::max<int64_t>(size, 1), d);
}

Tensor repeat(const Tensor& x, const IntList& repeats) {
  check_defined("repeat", x);
  ANNEAL_CHECK(int64_t(repeats.size()) >= x.dim(), ValueError,
               "repeat: number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
  const int64_t lead = int64_t(repeats.size()) - x.dim();
  Shape padded(size_t(lead), 1);
  padded.insert(padded.end(), x.sizes().begin(), x.sizes().end());
  // [a, b] repeated (r, s) = view [1, a, 1, b] expanded to [r, a, s, b], then merged
  Shape unsq, exp, final_shape;
  for (size_t i = 0; i < repeats.size(); ++i) {
    ANNEAL_CHECK(repeats[i] >= 0, ValueError, "repeat: negative repeat ", repeats[i]);
    unsq.push_back(1);
    unsq.push_back(padded[i]);
    exp.push_back(repeats[i]);
    exp.push_back(padded[i]);
    final_shape.push_back(repeats[i] * padded[i]);
  }
  return reshape(contiguous(expand(reshape(x, unsq), exp)), final_shape);
}

Tensor pad(const Tensor& x, const IntList& p, double value) {
  check_defined("pad", x);
  ANNEAL_CHECK(p.size() % 2 == 0 && int64_t(p.size()) / 2 <= x.dim(), ValueError, "pad: padding length (", p.size(),
               ") must be even and at most twice the number of dims (", x.dim(), ")");
  Shape out_shape = x.sizes();
  Tensor src = x;
  for (size_t i = 0; i < p.size() / 2; ++i) {
    int64_t d = x.dim() - 1 - int64_t(i);
    int64_t left = p[2 * i], right = p[2 * i + 1];
    // crop first for negative padding
    int64_t crop_l = std::max<int64_t>(-left, 0), crop_r = std::max<int64_t>(-right, 0);
    ANNEAL_CHECK(crop_l + crop_r <= x.size(d), ValueError, "pad: negative padding crops more than dim ", d, " holds");
    if (crop_l || crop_r) src = narrow(src, d, crop_l, src.size(d) - crop_l - crop_r);
    out_shape[size_t(d)] = src.size(d) + std::max<int64_t>(left, 0) + std::max<int64_t>(right, 0);
  }
  Tensor out = full(out_shape, value, {x.dtype(), x.device()});
  Shape inner = out.sizes();
  int64_t off = 0;
  for (size_t i = 0; i < p.size() / 2; ++i) {
    int64_t d = x.dim() - 1 - int64_t(i);
    inner[size_t(d)] = src.size(d);
    off += std::max<int64_t>(p[2 * i], 0) * out.stride(d);
  }
  Tensor dst = make_view(out, inner, out.strides(), off);
  backend_of(out).copy(dst, src);
  record("ConstantPadNdBackward0", {src}, {out}, [p, x_dim = x.dim(), src_shape = src.sizes()](const TensorList& g) -> TensorList {
    Tensor r = g[0];
    for (size_t i = 0; i < p.size() / 2; ++i) {
      int64_t d = x_dim - 1 - int64_t(i);
      r = narrow(r, d, std::max<int64_t>(p[2 * i], 0), src_shape[size_t(d)]);
    }
    return {r};
  });
  return out;
}

static Tensor tri(const Tensor& x, int64_t diagonal, bool lower) {
  const char* name = lower ? "tril" : "triu";
  check_defined(name, x);
  ANNEAL_CHECK(x.dim() >= 2, ValueError, name, ": input tensor must have at least 2 dimensions, got ", x.dim());
  const int64_t R = x.size(-2), C = x.size(-1);
  Tensor rows = arange(R, TensorOptions(DType::Int64, x.device())).reshape({R, 1});
  Tensor cols = arange(C, TensorOptions(DType::Int64, x.device())).reshape({1, C});
  Tensor keep = lower ? (cols - rows <= diagonal) : (cols - rows >= diagonal);
  return where(keep, x, zeros({}, {x.dtype(), x.device()}));
}
Tensor tril(const Tensor& x, int64_t diagonal) { return tri(x, diagonal, true); }
Tensor triu(const Tensor& x, int64_t diagonal) { return tri(x, diagonal, false); }

}  // namespace anneal
