#pragma once
// Fused scaled-dot-product attention: the device's kernel forward (flash attention on
// CUDA, kernels/cuda/attention.cu) with a backward that recomputes the probabilities from
// the saved row log-sum-exp, as flash attention does. Used by
// scaled_dot_product_attention (below, in ops/attention.cpp) when there is no mask and no dropout.
#include <optional>

#include "core/tensor.h"

namespace anneal::detail {

// The fused result, or nullopt when the device has no kernel for these inputs.
std::optional<Tensor> fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, double scale);

// Gradients {dq, dk, dv} of out = softmax(q·kᵀ·scale [causal: key ≤ query])·v from the
// forward's out and lse (natural log-sum-exp of each scaled score row, float32) and the
// output's gradient. Products run in q's dtype, probabilities in float32.
TensorList attention_backward_from_lse(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                       const Tensor& lse, const Tensor& grad_out, bool causal, double scale);

}  // namespace anneal::detail
