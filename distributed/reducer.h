#pragma once
// The gradient reducer of DistributedDataParallel (PyTorch's c10d Reducer). Parameters
// are packed, in reverse registration order, into buckets of one dtype and device (the
// first capped at 1 MiB so communication starts early, the rest at 25 MiB). As backward
// runs, each parameter's post-accumulate-grad hook copies its gradient into its bucket;
// a bucket whose last gradient arrived is all-reduced at once, in bucket order on every
// rank, while backward goes on computing the earlier layers. At the end of backward (an
// autograd callback) the reducer waits for every bucket and writes the averaged gradients
// back. After the first iteration the buckets are rebuilt once, in the order gradients
// actually arrived on rank 0.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "distributed/process_group.h"

namespace anneal::distributed {

// A communication hook: reduces `bucket` (a flat tensor of summed-to-be gradients,
// already divided by the world size) in place across the group and returns the work.
using CommHook = std::function<WorkPtr(ProcessGroup& group, Tensor& bucket)>;
// Built-in: sends the bucket as float16 / bfloat16 (half the bytes), sums, casts back.
CommHook fp16_compress_hook();
CommHook bf16_compress_hook();

struct ReducerOptions {
  int64_t bucket_cap_bytes = 25 << 20;
  int64_t first_bucket_cap_bytes = 1 << 20;
  bool find_unused_parameters = false;
  bool gradient_as_bucket_view = false;  // .grad views the bucket: no copy back
};

class Reducer : public std::enable_shared_from_this<Reducer> {
 public:
  // params: those to synchronise (requires_grad leaves), names for errors. Call
  // install_hooks() once the reducer is owned by a shared_ptr.
  static std::shared_ptr<Reducer> create(TensorList params, std::vector<std::string> names, ProcessGroupPtr group,
                                         ReducerOptions options = {});
  // Before backward (after each synchronised forward): the reducer expects every
  // parameter's gradient in the coming backward; with find_unused_parameters the graph of
  // `outputs` is searched and the parameters it does not reach count as ready (zeros).
  void prepare_for_backward(const TensorList& outputs);
  // A forward that will not synchronise (no_sync(), evaluation): its backward only
  // accumulates local gradients.
  void prepare_for_local_backward() { state_ = State::Local; }
  void register_comm_hook(CommHook hook);
  // Buckets as lists of parameter indices (for tests and the rebuild check).
  std::vector<std::vector<size_t>> bucket_indices() const;
  // How many buckets' all-reduces had already finished when backward ended, in the last
  // iteration: communication fully hidden behind backward.
  int64_t buckets_finished_before_backward_end() const { return finished_before_end_; }
  bool rebuilt() const { return rebuilt_; }
  const ProcessGroupPtr& group() const { return group_; }

 private:
  Reducer(TensorList params, std::vector<std::string> names, ProcessGroupPtr group, ReducerOptions options);
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets, lengths;
    Tensor flat;
    size_t pending = 0;
    WorkPtr work;
  };
  void build_buckets(const std::vector<size_t>& order);
  void on_gradient(size_t index);
  void mark_ready(size_t index);  // copies the gradient (or zeros) into its slot; launches full buckets
  void launch_ready_buckets();
  void finalize();
  void rebuild_from_arrival_order();
  std::string describe(size_t index) const;

  TensorList params_;
  std::vector<std::string> names_;
  ProcessGroupPtr group_;
  ReducerOptions options_;
  CommHook hook_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> where_;  // param -> (bucket, slot)
  // per iteration
  // Idle: no forward through DDP yet; Prepared: a synchronised backward is expected;
  // Finalized: it ran (another backward before the next forward is an error); Local: the
  // last forward does not synchronise.
  enum class State { Idle, Prepared, Finalized, Local } state_ = State::Idle;
  bool finalize_queued_ = false;
  std::vector<uint8_t> ready_, locally_used_;
  size_t next_bucket_ = 0;
  int64_t finished_before_end_ = 0;
  std::vector<size_t> arrival_;  // first iteration's order of gradients
  bool rebuilt_ = false, first_iteration_done_ = false;
};

}  // namespace anneal::distributed
