#pragma once
// Helpers shared by op implementations (not part of the public API).
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "kernels/backend.h"
#include "ops/factory.h"

namespace anneal::detail {

void check_defined(const char* op, const Tensor& t, const char* name = "input");
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// PyTorch's result_type: dimensioned tensors outrank 0-dim tensors, which outrank
// wrapped scalars; a lower class only counts when its category (bool < int < float)
// is higher.
DType result_type(const TensorList& ts);
// Raw, unrecorded helpers for op forwards.
Tensor cast_raw(const Tensor& t, DType dtype);             // no copy if already dtype
Tensor contiguous_raw(const Tensor& t);                    // no copy if contiguous
Tensor expand_raw(const Tensor& t, const Shape& shape);    // stride-0 view, checked
Tensor reshape_raw(const Tensor& t, const Shape& shape);   // view when possible
Tensor empty_on(const Shape& shape, DType dtype, Device device);
// The computation dtype for ops that need floats (integers → default float dtype).
inline DType float_compute_dtype(DType d) { return is_floating(d) ? d : default_float_dtype(); }
// The dtype a matrix product runs in: the CPU kernels implement 32/64-bit floats only, so
// half types compute in float32 there; cuBLAS takes half types directly (float32
// accumulation, tensor cores).
inline DType gemm_dtype(DType d, Device device) {
  if (device.is_cuda()) return d;
  return d == DType::Float16 || d == DType::BFloat16 ? DType::Float32 : d;
}
// Infers one -1 entry of `shape` for `numel` elements.
Shape infer_shape(const char* op, const IntList& shape, int64_t numel);
// False while t's device stream is being captured into a CUDA graph: checks of values
// that read them back on the host (targets in range, probabilities in [0, 1]) would wait
// for the device, which capture forbids; they ran in the eager warm-up steps.
bool host_checks_allowed(const Tensor& t);
// The strides for viewing a tensor of `sizes`/`strides` as `new_sizes` without a copy,
// or nullopt when impossible (PyTorch's computeStride).
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& new_sizes);
// Marks tensors as views (for the in-place-on-view autograd check).
void mark_view(const Tensor& t);
bool is_view(const Tensor& t);
IntList normalize_dims(const char* op, const IntList& dims, int64_t ndim);

}  // namespace anneal::detail
