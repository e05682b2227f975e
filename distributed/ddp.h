#pragma once
// DistributedDataParallel: wraps a module so that every rank trains the same model on its
// own share of the batch. Construction checks that every rank built the same parameters
// and copies rank 0's parameters and buffers to all; each forward (re)broadcasts the
// buffers (batch-norm statistics) from rank 0; backward all-reduces the gradients in
// buckets while it runs (see Reducer), so after backward every rank holds the gradient of
// the global batch's mean loss.
//
//   auto ddp = std::make_shared<distributed::DistributedDataParallel>(model);
//   Tensor loss = cross_entropy((*ddp)(x), y);  loss.backward();  opt.step();
#include <memory>

#include "distributed/process_group.h"
#include "distributed/reducer.h"
#include "nn/module.h"

namespace anneal::distributed {

struct DDPOptions {
  bool broadcast_buffers = true;
  bool find_unused_parameters = false;
  double bucket_cap_mb = 25;
  bool gradient_as_bucket_view = false;
};

class DistributedDataParallel : public nn::Module {
 public:
  // group: null means the default group.
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroupPtr group = nullptr,
                                   DDPOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "DistributedDataParallel"; }
  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const ProcessGroupPtr& group() const { return group_; }
  Reducer& reducer() { return *reducer_; }
  void register_comm_hook(CommHook hook) { reducer_->register_comm_hook(std::move(hook)); }

  // Inside the guard, backward only accumulates local gradients (no communication): the
  // micro-batches of one optimizer step run under it except the last.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& d) : d_(d), prev_(d.require_sync_) { d.require_sync_ = false; }
    ~NoSync() { d_.require_sync_ = prev_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& d_;
    bool prev_;
  };
  NoSync no_sync() { return NoSync(*this); }
  bool require_sync() const { return require_sync_; }
  void set_require_sync(bool on) { require_sync_ = on; }

  // What forward does around the wrapped module's call, for wrappers whose forward takes
  // other arguments (the Python module): before, then after with the outputs.
  void pre_forward();
  void post_forward(const TensorList& outputs);

 private:
  std::shared_ptr<nn::Module> module_;
  ProcessGroupPtr group_;
  DDPOptions options_;
  std::shared_ptr<Reducer> reducer_;
  bool require_sync_ = true;
};

// The reducer of any parameter list (Python's DistributedDataParallel builds on this):
// verifies, broadcasts parameters and buffers from rank 0, and returns the reducer.
std::shared_ptr<Reducer> make_ddp_reducer(const nn::StateDict& named_parameters, TensorList buffers,
                                          ProcessGroupPtr group, const DDPOptions& options);

}  // namespace anneal::distributed
