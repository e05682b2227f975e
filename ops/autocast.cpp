#include "ops/autocast.h"

#include "core/error.h"
#include "ops/ops.h"

namespace anneal {
namespace {

thread_local AutocastState state;

bool on_autocast_device(const Tensor& t) {
  return t.defined() && t.device().type == state.device && is_floating(t.dtype());
}

std::optional<TensorList> cast_all(std::initializer_list<const Tensor*> inputs, bool (*needs)(const Tensor&),
                                   DType to) {
  bool any = false;
  for (const Tensor* t : inputs) any |= needs(*t);
  if (!any) return std::nullopt;
  TensorList out;
  out.reserve(inputs.size());
  for (const Tensor* t : inputs) out.push_back(needs(*t) ? t->to(to) : *t);
  return out;
}

}  // namespace

AutocastState autocast_state() { return state; }

AutocastGuard::AutocastGuard(DeviceType device, DType dtype, bool enabled) : prev_(state) {
  ANNEAL_CHECK(dtype == DType::BFloat16 || dtype == DType::Float16, ValueError,
               "autocast: dtype must be bfloat16 or float16, got ", dtype_name(dtype));
  state = AutocastState{enabled, device, dtype};
}
AutocastGuard::~AutocastGuard() { state = prev_; }

namespace detail {

std::optional<TensorList> autocast_low(std::initializer_list<const Tensor*> inputs) {
  if (!state.enabled) return std::nullopt;
  return cast_all(
      inputs, [](const Tensor& t) { return on_autocast_device(t) && t.dtype() != state.dtype; }, state.dtype);
}

std::optional<TensorList> autocast_f32(std::initializer_list<const Tensor*> inputs) {
  if (!state.enabled) return std::nullopt;
  return cast_all(
      inputs,
      [](const Tensor& t) {
        return on_autocast_device(t) && (t.dtype() == DType::BFloat16 || t.dtype() == DType::Float16);
      },
      DType::Float32);
}

}  // namespace detail
}  // namespace anneal
