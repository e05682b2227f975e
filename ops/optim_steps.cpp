#include "ops/optim_steps.h"

#include "core/error.h"
#include "ops/internal.h"

namespace anneal {
using namespace detail;

bool fused_step_applies(const Tensor& p, std::initializer_list<const Tensor*> others) {
  if (!p.defined() || !p.is_contiguous() || !is_floating(p.dtype())) return false;
  if (p.device().is_cpu() && p.dtype() != DType::Float32 && p.dtype() != DType::Float64) return false;
  for (const Tensor* t : others)
    if (!t->defined() || !t->is_contiguous() || t->dtype() != p.dtype() || t->device() != p.device() ||
        t->numel() != p.numel())
      return false;
  return true;
}

void sgd_step_(const Tensor& p, const Tensor& grad, const Tensor& buf, double lr, double momentum, double dampening,
               double weight_decay, bool nesterov, bool first_step) {
  ANNEAL_CHECK(fused_step_applies(p, {&grad}) && (!buf.defined() || fused_step_applies(p, {&buf})), ValueError,
               "sgd_step_: needs contiguous float tensors of one dtype and size on the CPU");
  backend_of(p).sgd_step(p, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first_step);
  p.bump_version();
}

void adam_step_(const Tensor& p, const Tensor& grad, const Tensor& m, const Tensor& v, const Tensor& max_v, double b1,
                double b2, double eps, double step_size, double bc2_sqrt) {
  ANNEAL_CHECK(fused_step_applies(p, {&grad, &m, &v}) && (!max_v.defined() || fused_step_applies(p, {&max_v})),
               ValueError, "adam_step_: needs contiguous float tensors of one dtype and size on the CPU");
  backend_of(p).adam_step(p, grad, m, v, max_v, b1, b2, eps, step_size, bc2_sqrt);
  p.bump_version();
}

bool adam_step_device_step_(const Tensor& p, const Tensor& grad, const Tensor& m, const Tensor& v,
                            const Tensor& max_v, const Tensor& step, double lr, double b1, double b2, double eps) {
  if (!fused_step_applies(p, {&grad, &m, &v}) || (max_v.defined() && !fused_step_applies(p, {&max_v})) ||
      step.dtype() != DType::Float64 || step.numel() != 1 || step.device() != p.device())
    return false;
  if (!backend_of(p).adam_step_device_step(p, grad, m, v, max_v, step, lr, b1, b2, eps)) return false;
  p.bump_version();
  return true;
}

}  // namespace anneal
