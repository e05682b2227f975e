// Builds without CUDA: the NCCL backend is not there.
#include "core/error.h"
#include "distributed/process_group_nccl.h"

namespace anneal::distributed {

bool nccl_library_loads() { return false; }

ProcessGroupPtr make_process_group_nccl(std::shared_ptr<Store>, int, int, NcclOptions) {
  throw NotImplementedError(
      "this build has no nccl backend (it needs CUDA, ANNEAL_CUDA=ON, and nccl.h at build time): use backend='gloo' for CPU tensors");
}

}  // namespace anneal::distributed
