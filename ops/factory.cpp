#include "ops/factory.h"

#include <cmath>

#include "core/checked_size.h"
#include "ops/internal.h"

namespace anneal {
using namespace detail;

static Tensor finish(Tensor t, const TensorOptions& opt) {
  if (opt.requires_grad) t.set_requires_grad(true);
  return t;
}

Tensor empty(const Shape& shape, TensorOptions opt) { return finish(empty_on(shape, opt.dtype, opt.device), opt); }

Tensor full(const Shape& shape, Scalar value, TensorOptions opt) {
  Tensor t = empty_on(shape, opt.dtype, opt.device);
  backend_of(t).fill(t, value);
  return finish(t, opt);
}
Tensor zeros(const Shape& shape, TensorOptions opt) { return full(shape, 0, opt); }
Tensor ones(const Shape& shape, TensorOptions opt) { return full(shape, 1, opt); }

Tensor empty_like(const Tensor& t) { return empty_on(t.sizes(), t.dtype(), t.device()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.sizes(), {t.dtype(), t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.sizes(), {t.dtype(), t.device()}); }
Tensor full_like(const Tensor& t, Scalar v) { return full(t.sizes(), v, {t.dtype(), t.device()}); }
Tensor rand_like(const Tensor& t, Generator* g) { return rand(t.sizes(), {t.dtype(), t.device()}, g); }
Tensor randn_like(const Tensor& t, Generator* g) { return randn(t.sizes(), {t.dtype(), t.device()}, g); }

Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions opt) {
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  ANNEAL_CHECK(st != 0, ValueError, "arange: step must be nonzero");
  ANNEAL_CHECK(std::isfinite(s) && std::isfinite(e), ValueError, "arange: unsupported range: ", s, " -> ", e);
  ANNEAL_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), ValueError,
               "arange: upper bound and larger bound inconsistent with step sign (start ", s, ", end ", e, ", step ",
               st, ")");
  const double count = std::ceil((e - s) / st);
  // checked before the cast: a double beyond int64's range converts to garbage
  ANNEAL_CHECK(count < 0x1p62, ValueError, "arange: ", count, " elements (start ", s, ", end ", e, ", step ", st,
               ") is more than a tensor can hold");
  int64_t n = int64_t(count);
  Tensor t = empty_on({n}, opt.dtype, opt.device);
  backend_of(t).arange(t, s, st);
  return finish(t, opt);
}
Tensor arange(Scalar start, Scalar end, Scalar step) {
  bool fl = start.is_floating() || end.is_floating() || step.is_floating();
  return arange(start, end, step, TensorOptions(fl ? default_float_dtype() : DType::Int64));
}
Tensor arange(Scalar end, TensorOptions opt) { return arange(0, end, 1, opt); }
Tensor arange(int64_t end) { return arange(Scalar(int64_t(0)), Scalar(end), Scalar(int64_t(1))); }

Tensor linspace(double start, double end, int64_t steps, TensorOptions opt) {
  ANNEAL_CHECK(steps >= 0, ValueError, "linspace: number of steps must be non-negative, got ", steps);
  Tensor t = empty_on({steps}, opt.dtype, opt.device);
  if (steps > 0) backend_of(t).arange(t, start, steps > 1 ? (end - start) / double(steps - 1) : 0.0);
  return finish(t, opt);
}

Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions opt) {
  int64_t cols = m.value_or(n);
  ANNEAL_CHECK(n >= 0 && cols >= 0, ValueError, "eye: n and m must be non-negative, got ", n, " and ", cols);
  checked_add(cols, 1, "eye");  // the diagonal's stride
  Tensor t = zeros({n, cols}, opt.with_dtype(opt.dtype));
  Tensor diag = make_view(t, {std::min(n, cols)}, {cols + 1}, 0);
  backend_of(t).fill(diag, 1);
  return finish(t, opt);
}

Tensor rand(const Shape& shape, TensorOptions opt, Generator* gen) {
  ANNEAL_CHECK(is_floating(opt.dtype), TypeError, "rand: expected a floating dtype, got ", dtype_name(opt.dtype));
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty_on(shape, opt.dtype, opt.device);
  int64_t words = opt.dtype == DType::Float64 ? 2 * t.numel() : t.numel();
  backend_of(t).random_uniform(t, g.seed(), g.advance(words), 0.0, 1.0);
  return finish(t, opt);
}

Tensor randn(const Shape& shape, TensorOptions opt, Generator* gen) {
  ANNEAL_CHECK(is_floating(opt.dtype), TypeError, "randn: expected a floating dtype, got ", dtype_name(opt.dtype));
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty_on(shape, opt.dtype, opt.device);
  backend_of(t).random_normal(t, g.seed(), g.advance(t.numel()), 0.0, 1.0);
  return finish(t, opt);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt, Generator* gen) {
  ANNEAL_CHECK(high > low, ValueError, "randint: expected low < high, got low=", low, ", high=", high);
  Generator& g = gen ? *gen : default_generator();
  Tensor u = empty_on(shape, DType::Float64, opt.device);
  backend_of(u).random_uniform(u, g.seed(), g.advance(2 * u.numel()), double(low), double(high));
  Tensor fl = empty_on(shape, DType::Float64, opt.device);
  backend_of(u).unary(UnaryOp::Floor, u, fl, {});
  return finish(cast_raw(fl, opt.dtype), opt);
}

Tensor scalar_tensor(Scalar v, TensorOptions opt) { return full({}, v, opt); }

Tensor wrapped_scalar(Scalar v, Device device) {
  // a float keeps full double precision until promotion decides the type
  Tensor t = full({}, v, TensorOptions(v.is_floating() ? DType::Float64 : v.natural_dtype(), device));
  t.impl()->is_wrapped_number = true;
  return t;
}

template <typename T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, TensorOptions opt) {
  const Shape s = shape.empty() ? Shape{int64_t(values.size())} : shape;
  ANNEAL_CHECK(shape_numel(s) == int64_t(values.size()), ValueError, "tensor: ", values.size(),
               " values do not fill shape ", shape_to_string(s));
  Tensor host = make_empty(s, dtype_of<T>::value, cpu_allocator());
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) host.data_ptr<bool>()[i] = values[i];
  } else if (!values.empty()) {
    std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(T));
  }
  Tensor t = cast_raw(host, opt.dtype);
  if (!opt.device.is_cpu()) t = t.to(opt.device);
  return finish(t, opt);
}
template Tensor tensor<float>(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor tensor<double>(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor tensor<int32_t>(const std::vector<int32_t>&, const Shape&, TensorOptions);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, const Shape&, TensorOptions);
template Tensor tensor<uint8_t>(const std::vector<uint8_t>&, const Shape&, TensorOptions);
template Tensor tensor<bool>(const std::vector<bool>&, const Shape&, TensorOptions);

Tensor tensor(std::initializer_list<double> values, TensorOptions opt) {
  return tensor(std::vector<double>(values), {}, opt);
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, const Shape& strides, std::function<void(void*)> deleter,
                 Device device) {
  const int64_t numel = checked_numel(shape, "from_blob");
  ANNEAL_CHECK(data != nullptr || numel == 0, ValueError, "from_blob: data is null");
  Shape st = strides.empty() ? contiguous_strides(shape) : strides;
  const size_t nbytes = checked_nbytes(checked_extent(shape, st, 0, "from_blob"), element_size(dtype), "from_blob");
  auto storage = std::make_shared<StorageImpl>(data, nbytes, device, std::move(deleter));
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), dtype, shape, st, 0));
}

}  // namespace anneal
