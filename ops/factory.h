#pragma once
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"

namespace anneal {

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = kCPU;
  bool requires_grad = false;
  TensorOptions() = default;
  TensorOptions(DType d) : dtype(d) {}  // NOLINT: lets `zeros({2}, DType::Int64)` read well
  TensorOptions(DType d, Device dev, bool rg = false) : dtype(d), device(dev), requires_grad(rg) {}
  TensorOptions with_dtype(DType d) const { return {d, device, requires_grad}; }
};

Tensor empty(const Shape& shape, TensorOptions opt = {});
Tensor zeros(const Shape& shape, TensorOptions opt = {});
Tensor ones(const Shape& shape, TensorOptions opt = {});
Tensor full(const Shape& shape, Scalar value, TensorOptions opt = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, Scalar value);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);
// [start, end) by step; the dtype is int64 unless any bound is fractional (then float).
Tensor arange(Scalar end, TensorOptions opt);
Tensor arange(Scalar start, Scalar end, Scalar step = 1);
Tensor arange(Scalar start, Scalar end, Scalar step, TensorOptions opt);
Tensor arange(int64_t end);
Tensor linspace(double start, double end, int64_t steps, TensorOptions opt = {});
Tensor eye(int64_t n, std::optional<int64_t> m = {}, TensorOptions opt = {});
Tensor rand(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);   // U[0, 1)
Tensor randn(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);  // N(0, 1)
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt = DType::Int64,
               Generator* gen = nullptr);
Tensor scalar_tensor(Scalar v, TensorOptions opt);
// A 0-dim tensor from a number, marked so that it promotes like a Python scalar.
Tensor wrapped_scalar(Scalar v, Device device);

// Copies `values` into a new tensor of `shape` (default: 1-D).
template <typename T>
Tensor tensor(const std::vector<T>& values, const Shape& shape = {}, TensorOptions opt = TensorOptions(dtype_of<T>::value));
Tensor tensor(std::initializer_list<double> values, TensorOptions opt = {});
// Wraps external memory without copying. The memory must outlive the tensor unless a
// deleter is given, which runs when the last reference goes.
Tensor from_blob(void* data, const Shape& shape, DType dtype, const Shape& strides = {},
                 std::function<void(void*)> deleter = nullptr, Device device = kCPU);

}  // namespace anneal
