#include "ops/copy.h"

#include "core/autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/internal.h"
#include "ops/reduce.h"

namespace anneal {
using namespace detail;
using autograd::record;

Tensor clone(const Tensor& x) {
  check_defined("clone", x);
  Tensor out = empty_on(x.sizes(), x.dtype(), x.device());
  backend_of(x).copy(out, x);
  record("CloneBackward0", {x}, {out}, [](const TensorList& g) -> TensorList { return {g[0]}; });
  return out;
}
Tensor contiguous(const Tensor& x) {
  check_defined("contiguous", x);
  return x.is_contiguous() ? x : clone(x);
}
Tensor to(const Tensor& x, DType dtype) {
  check_defined("to", x);
  if (x.dtype() == dtype) return x;
  Tensor out = cast_raw(x, dtype);
  if (is_floating(dtype)) {
    record("ToCopyBackward0", {x}, {out}, [from = x.dtype()](const TensorList& g) -> TensorList { return {g[0].to(from)}; });
  }
  return out;
}
Tensor to(const Tensor& x, Device device, bool non_blocking) {
  check_defined("to", x);
  if (x.device() == device) return x;
  Tensor src = contiguous_raw(x);
  // A non_blocking copy to the host lands in page-locked memory, as only that can be
  // written asynchronously.
  Tensor out = non_blocking && device.is_cpu() && pinned_host_allocator()
                   ? make_empty(x.sizes(), x.dtype(), pinned_host_allocator())
                   : empty_on(x.sizes(), x.dtype(), device);
  // The device side of the pair does the transfer.
  backend_for(device.is_cpu() ? x.device() : device).copy_across(out, src, non_blocking);
  record("ToCopyBackward0", {x}, {out}, [from = x.device()](const TensorList& g) -> TensorList { return {g[0].to(from)}; });
  return out;
}

bool is_pinned(const Tensor& x) {
  if (!x.defined() || !x.device().is_cpu()) return false;
  Allocator* pinned = pinned_host_allocator();
  return pinned && x.impl()->storage()->allocator() == pinned;
}
Tensor pin_memory(const Tensor& x) {
  check_defined("pin_memory", x);
  ANNEAL_CHECK(x.device().is_cpu(), ValueError, "pin_memory: only CPU tensors can be pinned, got one on ",
               x.device().str());
  if (is_pinned(x)) return x;
  Allocator* pinned = pinned_host_allocator();
  ANNEAL_CHECK(pinned, DeviceError, "pin_memory: page-locked host memory needs a CUDA device, and ",
               cuda_is_built() ? "none is available" : "anneal was built without CUDA support");
  Tensor out = make_empty(x.sizes(), x.dtype(), pinned);
  backend_of(x).copy(out, x);
  record("PinMemoryBackward0", {x}, {out}, [](const TensorList& g) -> TensorList { return {g[0]}; });
  return out;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  NoGradGuard ng;
  Tensor a64 = a.to(DType::Float64), b64 = b.to(DType::Float64);
  Tensor close = le(abs(a64 - b64), abs(b64) * rtol + atol);
  if (equal_nan) close = logical_or(close, logical_and(isnan(a64), isnan(b64)));
  return all(close).item<bool>();
}
bool equal(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  NoGradGuard ng;
  return all(eq(a, b)).item<bool>();
}

}  // namespace anneal
