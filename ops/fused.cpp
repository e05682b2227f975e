#include "ops/fused.h"

#include "core/autograd/engine.h"

namespace anneal::detail {

TensorList composite_backward(const std::function<Tensor(const TensorList&)>& composite, const TensorList& inputs,
                              const Tensor& grad_out) {
  const Tensor y = composite(inputs);
  TensorList wrt;
  std::vector<size_t> where;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) wrt.push_back(inputs[i]), where.push_back(i);
  TensorList out(inputs.size());
  if (wrt.empty()) return out;
  const TensorList gs = autograd::grad({y}, wrt, {grad_out}, true, true, true);
  for (size_t j = 0; j < where.size(); ++j) out[where[j]] = gs[j];
  return out;
}

}  // namespace anneal::detail
