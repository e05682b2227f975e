#pragma once
// Mixed precision: inside an AutocastGuard, matrix products, convolution and attention on
// the guard's device type run in its low dtype (bfloat16 or float16: inputs are cast on
// the way in, through autograd, so float32 master weights receive float32 gradients),
// while softmax, normalisation and losses run in float32. As torch.autocast; the state
// is per thread.
#include <initializer_list>
#include <optional>

#include "core/tensor.h"

namespace anneal {

struct AutocastState {
  bool enabled = false;
  DeviceType device = DeviceType::CUDA;
  DType dtype = DType::BFloat16;
};
AutocastState autocast_state();

class AutocastGuard {
 public:
  // dtype must be Float16 or BFloat16 (ValueError otherwise)
  explicit AutocastGuard(DeviceType device, DType dtype = DType::BFloat16, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  AutocastState prev_;
};

namespace detail {
// The inputs cast for a low-precision op (floating tensors on the autocast device to the
// autocast dtype), or nullopt when autocast leaves them as they are. Pointers: every
// matmul, linear, softmax... asks, and outside a scope this must cost nothing.
std::optional<TensorList> autocast_low(std::initializer_list<const Tensor*> inputs);
// The inputs cast for a float32 op (16-bit floating tensors to float32), or nullopt.
std::optional<TensorList> autocast_f32(std::initializer_list<const Tensor*> inputs);
}  // namespace detail

}  // namespace anneal
