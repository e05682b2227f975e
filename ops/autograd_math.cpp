// The engine's tensor math (declared in core/autograd/grad_math.h).
#include "core/autograd/grad_math.h"
#include "ops/ops.h"
#include "ops/internal.h"

namespace anneal::autograd::math {

Tensor add(const Tensor& a, const Tensor& b) { return anneal::add(a, b); }

void add_inplace(Tensor& acc, const Tensor& b) {
  NoGradGuard ng;
  if (acc.sizes() == b.sizes() && acc.dtype() == b.dtype() && !detail::is_view(acc)) {
    backend_of(acc).binary(BinaryOp::Add, acc, b, acc);
  } else {
    acc = anneal::add(acc, b);
  }
}

Tensor reduce_to(const Tensor& grad, const Shape& shape, DType dtype) {
  Tensor g = grad.sizes() == shape ? grad : sum_to(grad, shape);
  return g.dtype() == dtype ? g : g.to(dtype);
}

Tensor ones_like(const Tensor& t) { return anneal::ones_like(t); }
Tensor zeros(const Shape& shape, DType dtype, Device device) { return anneal::zeros(shape, {dtype, device}); }

}  // namespace anneal::autograd::math
