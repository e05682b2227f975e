#pragma once
// ZeroRedundancyOptimizer (ZeRO stage 1): each of N ranks keeps the optimizer state of one
// N-th of the parameters. A step reduce-scatters the gradients (each rank receives the
// average of its shard), runs the wrapped optimizer on that shard, and all-gathers the
// updated parameters. All parameters travel as one flat vector padded to a multiple of N,
// so any elementwise optimizer (SGD, Adam, AdamW, RMSprop, Adagrad) gives the same result
// as on one process. Use it on a plain (not DDP-wrapped) model: it is the gradient
// synchronisation.
//
// Checkpoints hold the full state, as the wrapped optimizer would hold it for the original
// parameters: state_dict() gathers it (every rank must call it), load_state_dict() takes
// this rank's shard, so a run saved on N ranks resumes on M.
#include <functional>
#include <memory>

#include "distributed/process_group.h"
#include "optim/optimizer.h"

namespace anneal::distributed {

class ZeroRedundancyOptimizer : public optim::Optimizer {
 public:
  // Builds the wrapped optimizer over this rank's shard (one flat parameter).
  using Factory = std::function<std::unique_ptr<optim::Optimizer>(TensorList shard)>;
  // params: one dtype and device. Copies rank 0's parameters to every rank first.
  ZeroRedundancyOptimizer(TensorList params, Factory make_optimizer, ProcessGroupPtr group = nullptr);
  void step() override;
  std::string name() const override { return "ZeroRedundancyOptimizer(" + inner_->name() + ")"; }
  optim::OptimizerState state_dict() const override;
  void load_state_dict(const optim::OptimizerState& s) override;
  void check_state_dict(const optim::OptimizerState& s) const override;
  int64_t shard_numel() const { return shard_; }
  const ProcessGroupPtr& group() const { return group_; }
  const optim::Optimizer& wrapped() const { return *inner_; }

 private:
  void check_options(const optim::Options&) const override {}  // the wrapped optimizer checks its own
  bool elementwise(const Tensor& t) const { return t.dim() == 1 && t.size(0) == shard_; }
  ProcessGroupPtr group_;
  TensorList params_;
  int64_t total_ = 0, padded_ = 0, shard_ = 0;
  Tensor shard_param_;
  std::unique_ptr<optim::Optimizer> inner_;
};

}  // namespace anneal::distributed
