#pragma once
// ProcessGroup: the collectives one group of ranks runs together (PyTorch's c10d). Every
// call checks its arguments at once (a bad tensor throws here, on the caller's thread),
// takes the next sequence number and returns a Work handle; the backend runs the
// operations of a group one at a time in the order they were issued, on its own thread
// (Gloo) or stream (NCCL), so callers overlap them with computation. Every operation has
// the group's timeout: a dead or stuck peer fails it with an error naming the operation,
// its sequence number and the rank, never a hang.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "distributed/errors.h"

namespace anneal::distributed {

enum class ReduceOp { Sum, Avg, Product, Min, Max };
const char* reduce_op_name(ReduceOp op);  // "sum", ...

// The handle of one issued operation.
class Work {
 public:
  Work(std::string op, uint64_t seq) : op_(std::move(op)), seq_(seq) {}
  bool is_completed() const;
  bool is_success() const;  // completed without an error
  std::exception_ptr exception() const;
  // Blocks until the operation finished and rethrows its error. With a timeout (> 0) a
  // still-running operation throws DistTimeoutError after it (the operation itself ends
  // at the group's timeout).
  void wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  const std::string& op() const { return op_; }
  uint64_t sequence_number() const { return seq_; }
  // For backends: completes the work (error: null on success) and runs the callbacks.
  void finish(std::exception_ptr error = nullptr);
  // Runs fn(*this) once the work finished (at once when it already has), on the thread
  // that finishes it.
  void then(std::function<void(Work&)> fn);

 private:
  std::string op_;
  uint64_t seq_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
  std::vector<std::function<void(Work&)>> callbacks_;
};
using WorkPtr = std::shared_ptr<Work>;

struct ProcessGroupOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
};

class ProcessGroup {
 public:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}
  virtual ~ProcessGroup() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  virtual std::string backend_name() const = 0;
  // The device type whose tensors this group moves (CPU for Gloo, CUDA for NCCL).
  virtual DeviceType device_type() const = 0;
  // Where this group's own small tensors live (counts, fingerprints, flags): the CPU for
  // Gloo, this rank's GPU for NCCL.
  virtual Device device() const { return Device(device_type()); }
  std::chrono::milliseconds timeout() const { return options_.timeout; }
  void set_timeout(std::chrono::milliseconds t) { options_.timeout = t; }

  // In place: every rank ends with the reduction of all ranks' `tensor`.
  virtual WorkPtr all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum) = 0;
  // In place: every rank ends with root's `tensor`.
  virtual WorkPtr broadcast(Tensor& tensor, int root = 0) = 0;
  // output = cat of every rank's input along a new leading axis of size() rows
  // (output shape [size() * input.shape(0), ...] or [size(), ...]: numel size() * input's).
  virtual WorkPtr all_gather_into_tensor(Tensor& output, const Tensor& input) = 0;
  // outputs[r] = rank r's input (outputs must have size() tensors shaped like input).
  WorkPtr all_gather(TensorList& outputs, const Tensor& input);
  // output = the reduction over ranks of chunk rank() of every rank's input (input has
  // size() * output.numel() elements).
  virtual WorkPtr reduce_scatter_tensor(Tensor& output, const Tensor& input, ReduceOp op = ReduceOp::Sum) = 0;
  // output = the reduction over ranks of every rank's inputs[rank()].
  WorkPtr reduce_scatter(Tensor& output, const TensorList& inputs, ReduceOp op = ReduceOp::Sum);
  virtual WorkPtr barrier() = 0;
  virtual WorkPtr send(const Tensor& tensor, int dst, int tag = 0) = 0;
  virtual WorkPtr recv(Tensor& tensor, int src, int tag = 0) = 0;

 protected:
  // The argument checks every backend shares; `what` names the operation in errors.
  void check_tensor(const Tensor& t, const char* what) const;
  void check_rank(int r, const char* what, const char* role) const;
  ProcessGroupOptions options_;
  int rank_, size_;
};
using ProcessGroupPtr = std::shared_ptr<ProcessGroup>;

}  // namespace anneal::distributed
