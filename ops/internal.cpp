#include "ops/internal.h"

#include "runtime/cuda_graph.h"

#include <algorithm>

namespace anneal::detail {

void check_defined(const char* op, const Tensor& t, const char* name) {
  ANNEAL_CHECK(t.defined(), ValueError, op, ": ", name, " is an undefined tensor");
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  ANNEAL_CHECK(a.device() == b.device(), DeviceError, op,
               ": expected all tensors to be on the same device, but found at least two devices, ", a.device().str(),
               " and ", b.device().str());
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ANNEAL_CHECK(da == db || da == 1 || db == 1, ValueError, op, ": the size of tensor a (", da,
                 ") must match the size of tensor b (", db, ") at non-singleton dimension ", i, " (shapes ",
                 shape_to_string(a), " and ", shape_to_string(b), ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

static int category(DType d) { return d == DType::Bool ? 0 : is_floating(d) ? 2 : 1; }

DType result_type(const TensorList& ts) {
  std::optional<DType> dim_r, zero_r, wrapped_r;
  auto merge = [](std::optional<DType>& r, DType d) { r = r ? promote_types(*r, d) : d; };
  for (const auto& t : ts) {
    if (!t.defined()) continue;
    if (t.impl()->is_wrapped_number) {
      // A wrapped number contributes only its category's default type.
      DType d = t.dtype();
      merge(wrapped_r, is_floating(d) ? default_float_dtype() : d == DType::Bool ? DType::Bool : DType::Int64);
    } else if (t.dim() == 0) {
      merge(zero_r, t.dtype());
    } else {
      merge(dim_r, t.dtype());
    }
  }
  auto combine = [](std::optional<DType> hi, std::optional<DType> lo) -> std::optional<DType> {
    if (!hi) return lo;
    if (!lo) return hi;
    return category(*lo) > category(*hi) ? promote_types(*hi, *lo) : *hi;
  };
  auto r = combine(combine(dim_r, zero_r), wrapped_r);
  ANNEAL_CHECK(r.has_value(), ValueError, "result_type: no defined tensors");
  return *r;
}

Tensor empty_on(const Shape& shape, DType dtype, Device device) {
  return make_empty(shape, dtype, allocator_for(device));
}

Tensor cast_raw(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty_on(t.sizes(), dtype, t.device());
  backend_of(t).copy(out, t);
  return out;
}

Tensor contiguous_raw(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor out = empty_on(t.sizes(), t.dtype(), t.device());
  backend_of(t).copy(out, t);
  return out;
}

Tensor expand_raw(const Tensor& t, const Shape& shape) {
  if (t.sizes() == shape) return t;
  const int64_t nd = int64_t(shape.size()), td = t.dim();
  ANNEAL_CHECK(nd >= td, ValueError, "expand: the number of sizes provided (", nd,
               ") must be greater or equal to the number of dimensions in the tensor (", td, ")");
  Shape strides(size_t(nd), 0);
  for (int64_t i = nd - 1; i >= 0; --i) {
    int64_t ti = i - (nd - td);
    if (ti < 0) continue;
    int64_t ts = t.size(ti);
    ANNEAL_CHECK(ts == shape[size_t(i)] || ts == 1, ValueError, "expand: the expanded size of the tensor (",
                 shape[size_t(i)], ") must match the existing size (", ts, ") at non-singleton dimension ", i,
                 ". Target sizes: ", shape_to_string(shape), ". Tensor sizes: ", t.shape_str());
    strides[size_t(i)] = ts == 1 && shape[size_t(i)] != 1 ? 0 : t.stride(ti);
  }
  Tensor v = make_view(t, shape, strides, t.storage_offset());
  v.impl()->is_view = true;
  return v;
}

Shape infer_shape(const char* op, const IntList& shape, int64_t numel) {
  Shape out(shape.begin(), shape.end());
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      ANNEAL_CHECK(infer < 0, ValueError, op, ": only one dimension can be inferred");
      infer = int64_t(i);
    } else {
      ANNEAL_CHECK(out[i] >= 0, ValueError, op, ": invalid shape dimension ", out[i]);
      known *= out[i];
    }
  }
  if (infer >= 0) {
    ANNEAL_CHECK(known != 0 && numel % known == 0, ValueError, op, ": shape '", shape_to_string(out),
                 "' is invalid for input of size ", numel);
    out[size_t(infer)] = numel / known;
  }
  ANNEAL_CHECK(shape_numel(out) == numel, ValueError, op, ": shape '", shape_to_string(out),
               "' is invalid for input of size ", numel);
  return out;
}

std::optional<Shape> view_strides(const Shape& old_sizes, const Shape& old_strides, const Shape& new_sizes) {
  if (old_sizes.empty()) return Shape(new_sizes.size(), 1);
  int64_t numel = shape_numel(old_sizes);
  if (numel == 0) return contiguous_strides(new_sizes);
  Shape new_strides(new_sizes.size(), 0);
  int64_t view_d = int64_t(new_sizes.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = int64_t(old_sizes.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_sizes[size_t(tensor_d)];
    if (tensor_d == 0 || (old_sizes[size_t(tensor_d - 1)] != 1 &&
                          old_strides[size_t(tensor_d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[size_t(view_d)] == 1)) {
        new_strides[size_t(view_d)] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[size_t(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[size_t(tensor_d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return new_strides;
}

Tensor reshape_raw(const Tensor& t, const Shape& shape) {
  if (t.sizes() == shape) return t;
  if (auto st = view_strides(t.sizes(), t.strides(), shape)) {
    Tensor v = make_view(t, shape, *st, t.storage_offset());
    v.impl()->is_view = true;
    return v;
  }
  Tensor c = contiguous_raw(t);
  return make_view(c, shape, contiguous_strides(shape), c.storage_offset());
}

void mark_view(const Tensor& t) { t.impl()->is_view = true; }
bool is_view(const Tensor& t) { return t.impl()->is_view; }

IntList normalize_dims(const char* op, const IntList& dims, int64_t ndim) {
  IntList out;
  std::vector<bool> seen(size_t(std::max<int64_t>(ndim, 1)), false);
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, ndim, op);
    ANNEAL_CHECK(!seen[size_t(w)], ValueError, op, ": dim ", w, " appears multiple times in the list of dims");
    seen[size_t(w)] = true;
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool host_checks_allowed(const Tensor& t) { return !t.device().is_cuda() || !cuda_is_capturing(t.device().index); }

}  // namespace anneal::detail
