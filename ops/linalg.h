#pragma once
#include "core/tensor.h"

namespace anneal {

// torch.matmul semantics: 1-D operands are promoted and squeezed back, batch dims
// broadcast (a broadcast operand is never copied).
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);    // [M,K] @ [K,N]
Tensor bmm(const Tensor& a, const Tensor& b);   // [B,M,K] @ [B,K,N]
Tensor addmm(const Tensor& c, const Tensor& a, const Tensor& b, Scalar beta = 1, Scalar alpha = 1);
// x @ weight^T + bias, weight [out, in]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
Tensor outer(const Tensor& a, const Tensor& b);

}  // namespace anneal
