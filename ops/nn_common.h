#pragma once
// What the nn ops' files share (ops/softmax.cpp, conv.cpp, pool.cpp, norm.cpp,
// attention.cpp): private to ops/.
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backend.h"
#include "ops/nn.h"

namespace anneal::detail {

// The fused row kernel applies to tensors normalised over their last dim: float32/float64
// on the CPU, every floating dtype on CUDA. (ops/softmax.cpp)
bool rows_kernel_applies(const Tensor& x, int64_t d);
// softmax or log_softmax over `dim`; causal_len > 0 masks row i past column i (the
// attention's causal mask, applied inside the row kernel). (ops/softmax.cpp)
Tensor softmax_family(const Tensor& x, int64_t dim, bool log, int64_t causal_len = 0);
// A convolution's window geometry from its options. (ops/conv.cpp)
Conv2dGeometry conv_geometry(int64_t kh, int64_t kw, const Conv2dOptions& o);

}  // namespace anneal::detail
