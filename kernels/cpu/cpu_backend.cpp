#include "kernels/cpu/cpu_backend.h"

namespace anneal::cpu {

void CpuBackend::copy_across(const Tensor& dst, const Tensor& src, bool) { copy(dst, src); }

CpuBackend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace anneal::cpu
