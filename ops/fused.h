#pragma once
// Fused ops with a composite form. A fused op (conv2d's direct kernels, batch norm's
// channel passes, layer norm's row kernel) runs its own forward and first-order backward
// kernels, and states its composite form (the same function written with differentiable
// ops) exactly once: the composite is the fallback where the kernel does not apply, and
// under create_graph the backward differentiates it, so higher derivatives come from the
// same formula and the two can never drift apart.
#include <functional>

#include "core/tensor.h"

namespace anneal::detail {

// The gradients of composite(inputs) with respect to each input, for grad_out, with
// graph (double backward). Undefined inputs, and those that need no gradient, get an
// undefined gradient. `inputs` are the op's saved inputs, unpacked with their history.
TensorList composite_backward(const std::function<Tensor(const TensorList&)>& composite, const TensorList& inputs,
                              const Tensor& grad_out);

}  // namespace anneal::detail
