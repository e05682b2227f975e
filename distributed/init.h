#pragma once
// The default process group (torch.distributed's module-level API): init_process_group
// reads where this process sits (env://, tcp://host:port, file://path), meets the other
// ranks through a TCPStore hosted by rank 0 and builds the backend the tensors' device
// asks for (Gloo for CPU, NCCL for CUDA).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/bootstrap.h"
#include "distributed/process_group.h"
#include "distributed/store.h"

namespace anneal::distributed {

struct InitOptions {
  std::string backend;               // "gloo", "nccl"; empty: nccl when CUDA is available, else gloo
  std::string init_method = "env://";  // or tcp://host:port, file:///path
  int rank = -1, world_size = -1;    // -1: from the environment
  // Collective timeout; 0: 30 min for Gloo, 10 min for NCCL (ANNEAL_DISTRIBUTED_TIMEOUT, seconds, overrides).
  std::chrono::milliseconds timeout{0};
  // How long ranks wait for each other at start; 0: 5 min (ANNEAL_INIT_TIMEOUT, seconds).
  std::chrono::milliseconds init_timeout{0};
  // A store made by the caller (torch's init_process_group(store=...)): rank and
  // world_size must be given; init_method is not used.
  std::shared_ptr<TCPStore> store;
};

ProcessGroupPtr init_process_group(InitOptions options = {});
bool is_initialized();
// The default group; throws DistError when init_process_group was not called.
ProcessGroupPtr default_group();
// Destroys every group (rank 0's store closes once the others have left).
void destroy_process_group();
int get_rank();
int get_world_size();
// The launcher's view of this process (LOCAL_RANK etc.), valid after init.
const Bootstrap& bootstrap_info();
// A group of some ranks (every rank must call it, in the same order, as in PyTorch);
// returns null on ranks that are not members.
ProcessGroupPtr new_group(const std::vector<int>& ranks, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
// The store of the default group (rendezvous for user keys under "user/").
std::shared_ptr<Store> default_store();

bool nccl_is_available();  // built with CUDA and libnccl.so.2 loads

}  // namespace anneal::distributed
