#include "kernels/backend.h"

#include "core/error.h"
#include "kernels/cpu/cpu_backend.h"
#ifdef ANNEAL_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace anneal {

Backend& backend_for(Device d) {
  if (d.is_cpu()) return cpu::cpu_backend();
  require_device(d);
#ifdef ANNEAL_WITH_CUDA
  return cuda::backend(d.index);
#else
  throw DeviceError(str("cannot use ", d.str(), ": anneal was built without CUDA support"));
#endif
}

}  // namespace anneal
