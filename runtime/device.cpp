#include "runtime/device.h"

#include <atomic>

#include "core/error.h"
#ifdef ANNEAL_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace anneal {

int cuda_device_count() {
#ifdef ANNEAL_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

bool cuda_is_available() { return cuda_device_count() > 0; }

namespace {
std::atomic<bool> allow_tf32{false};
}
void cuda_set_allow_tf32(bool allow) { allow_tf32 = allow; }
bool cuda_allow_tf32() { return allow_tf32.load(); }

bool cuda_is_built() {
#ifdef ANNEAL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void require_device(Device d) {
  if (d.is_cpu()) return;
#ifdef ANNEAL_WITH_CUDA
  int n = cuda::device_count();
  ANNEAL_CHECK(n > 0, DeviceError, "cannot use ", d.str(), ": no CUDA device is available");
  ANNEAL_CHECK(d.index >= 0 && d.index < n, DeviceError, "cannot use ", d.str(), ": only ", n,
               " CUDA device(s) are available");
#else
  throw DeviceError(str("cannot use ", d.str(), ": anneal was built without CUDA support (configure with -DANNEAL_CUDA=ON)"));
#endif
}

Allocator* pinned_host_allocator() {
#ifdef ANNEAL_WITH_CUDA
  if (cuda::device_count() > 0) return cuda::pinned_allocator();
#endif
  return nullptr;
}

void cuda_synchronize(int device) {
  require_device(Device(DeviceType::CUDA, device < 0 ? 0 : device));
#ifdef ANNEAL_WITH_CUDA
  cuda::synchronize(device);
#endif
}

Allocator* allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  require_device(d);
#ifdef ANNEAL_WITH_CUDA
  return cuda::allocator(d.index);
#else
  return nullptr;  // (require_device has thrown)
#endif
}

}  // namespace anneal
