// Builds without CUDA: the NCCL backend is not there.
#include "core/error.h"
#include "distributed/process_group_nccl.h"

namespace anneal::distributed {

bool nccl_library_loads() { return false; }

ProcessGroupPtr make_process_group_nccl(std::shared_ptr<Store>, int, int, NcclOptions) {
  throw NotImplementedError(
      "the nccl backend needs a build with CUDA (ANNEAL_CUDA=ON); this build has none: use backend='gloo'");
}

}  // namespace anneal::distributed
