#pragma once
// Copies and conversions: clone, contiguous, dtype and device moves (host <-> GPU, pinned
// memory), and the comparisons of whole tensors (allclose, equal).
#include "core/tensor.h"

namespace anneal {

Tensor clone(const Tensor& x);
Tensor contiguous(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);
// non_blocking: from or to page-locked host memory, the copy is queued on the current
// CUDA stream and this returns at once (synchronize before reading a host result);
// otherwise, and for ordinary host memory, it returns when the copy is done.
Tensor to(const Tensor& x, Device device, bool non_blocking = false);
// A copy in page-locked host memory (x itself when already pinned); a DeviceError
// without a CUDA device. is_pinned: whether x lives in such memory.
Tensor pin_memory(const Tensor& x);
bool is_pinned(const Tensor& x);
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
bool equal(const Tensor& a, const Tensor& b);  // same shape and exactly the same values

}  // namespace anneal
