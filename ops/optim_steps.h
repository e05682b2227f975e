#pragma once
// Fused in-place optimizer updates for one parameter (no autograd): the device's
// sgd_step / adam_step kernels when they apply, else false so the caller runs the
// composite formula. See kernels/backend.h for the exact update rules.
#include "core/tensor.h"

namespace anneal {

// True when p and every given tensor are contiguous, on one device, with p's float dtype,
// and the device has the fused kernels.
bool fused_step_applies(const Tensor& p, std::initializer_list<const Tensor*> others);

void sgd_step_(const Tensor& p, const Tensor& grad, const Tensor& momentum_buffer, double lr, double momentum,
               double dampening, double weight_decay, bool nesterov, bool first_step);
void adam_step_(const Tensor& p, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                const Tensor& max_exp_avg_sq, double beta1, double beta2, double eps, double step_size,
                double bias_correction2_sqrt);

// adam_step_ with the step count as a float64 device tensor (capturable Adam): false where
// the device has no such kernel or the tensors do not qualify (the caller composes).
bool adam_step_device_step_(const Tensor& p, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                            const Tensor& max_exp_avg_sq, const Tensor& step, double lr, double beta1, double beta2,
                            double eps);

}  // namespace anneal
