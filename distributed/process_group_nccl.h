#pragma once
// The NCCL backend (CUDA tensors). libnccl.so.2 is loaded at run time (dlopen), so a
// CUDA build starts on machines without NCCL and says so when asked for it. Its CUDA and
// NCCL headers stay in distributed/nccl/.
#include <memory>
#include <vector>

#include "distributed/process_group.h"
#include "distributed/store.h"

namespace anneal::distributed {

struct NcclOptions : ProcessGroupOptions {
  int device_index = 0;  // this rank's GPU (LOCAL_RANK)
  std::shared_ptr<TCPStore> status_store;
  std::vector<int> global_ranks;
};

// True when this build has CUDA and libnccl.so.2 (or ANNEAL_NCCL_LIBRARY) loads.
bool nccl_library_loads();
// Throws NotImplementedError without CUDA, DistError naming the library when NCCL does
// not load.
ProcessGroupPtr make_process_group_nccl(std::shared_ptr<Store> store, int rank, int size, NcclOptions options);

}  // namespace anneal::distributed
