#pragma once
// The few tensor operations the autograd engine itself needs (accumulating gradients,
// undoing broadcasting and promotion). Declared here so core has no include of ops/;
// ops/autograd_math.cpp defines them with the real operators.
#include "core/tensor.h"

namespace anneal::autograd::math {

Tensor add(const Tensor& a, const Tensor& b);
void add_inplace(Tensor& acc, const Tensor& b);  // acc += b without recording
// Sums `grad` down to `shape` (the inverse of broadcasting) and casts it to `dtype`.
Tensor reduce_to(const Tensor& grad, const Shape& shape, DType dtype);
Tensor ones_like(const Tensor& t);
Tensor zeros(const Shape& shape, DType dtype, Device device);

}  // namespace anneal::autograd::math
