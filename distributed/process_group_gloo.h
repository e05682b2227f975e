#pragma once
// The Gloo backend (TCP, CPU tensors): one full mesh of connections per group, made
// through the rendezvous store; the group's operations run in order on one worker thread.
#include <memory>
#include <string>
#include <vector>

#include "distributed/process_group.h"
#include "distributed/store.h"

namespace anneal::distributed {

bool gloo_is_available();  // built with Gloo

struct GlooOptions : ProcessGroupOptions {
  std::string hostname;  // the address peers reach this rank on (empty: this host's name)
  std::string iface;     // or a network interface by name (GLOO_SOCKET_IFNAME)
  // The store that knows every process's liveness and progress (names a dead or
  // stalled rank in errors); ranks of this group in the world (empty: 0..size-1).
  std::shared_ptr<TCPStore> status_store;
  std::vector<int> global_ranks;
  bool report_progress = false;  // the world group reports each operation's start
  bool debug_detail = false;     // check every operation's fingerprint across ranks first
};

class ProcessGroupGloo : public ProcessGroup {
 public:
  // Connects to every other rank through `store` (keys of this group only: pass a
  // PrefixStore); throws DistError when a peer does not appear within the timeout.
  ProcessGroupGloo(std::shared_ptr<Store> store, int rank, int size, GlooOptions options);
  ~ProcessGroupGloo() override;
  std::string backend_name() const override { return "gloo"; }
  DeviceType device_type() const override { return DeviceType::CPU; }
  WorkPtr all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum) override;
  WorkPtr broadcast(Tensor& tensor, int root = 0) override;
  WorkPtr all_gather_into_tensor(Tensor& output, const Tensor& input) override;
  WorkPtr reduce_scatter_tensor(Tensor& output, const Tensor& input, ReduceOp op = ReduceOp::Sum) override;
  WorkPtr barrier() override;
  WorkPtr send(const Tensor& tensor, int dst, int tag = 0) override;
  WorkPtr recv(Tensor& tensor, int src, int tag = 0) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace anneal::distributed
