#include "distributed/ddp.h"

#include "core/autograd/grad_mode.h"
#include "distributed/coalesced.h"
#include "distributed/init.h"

namespace anneal::distributed {

std::shared_ptr<Reducer> make_ddp_reducer(const nn::StateDict& named_parameters, TensorList buffers,
                                          ProcessGroupPtr group, const DDPOptions& options) {
  ANNEAL_CHECK(options.bucket_cap_mb > 0 && options.bucket_cap_mb < 1e6, ValueError,
               "DistributedDataParallel: bucket_cap_mb must be positive (got ", options.bucket_cap_mb, ")");
  TensorList params;
  std::vector<std::string> names;
  for (auto& [name, p] : named_parameters) {
    if (!p.requires_grad()) continue;  // frozen parameters are not synchronised (as in PyTorch)
    params.push_back(p);
    names.push_back(name);
  }
  ReducerOptions ro;
  ro.bucket_cap_bytes = static_cast<int64_t>(options.bucket_cap_mb * (1 << 20));
  ro.find_unused_parameters = options.find_unused_parameters;
  ro.gradient_as_bucket_view = options.gradient_as_bucket_view;
  auto reducer = Reducer::create(params, names, group, ro);  // verifies the parameters first
  TensorList state;
  for (auto& [name, p] : named_parameters) state.push_back(p);
  for (auto& b : buffers) state.push_back(b);
  broadcast_coalesced(*group, state, 0);
  return reducer;
}

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroupPtr group,
                                                 DDPOptions options)
    : module_(std::move(module)), group_(group ? std::move(group) : default_group()), options_(options) {
  ANNEAL_CHECK(module_, ValueError, "DistributedDataParallel: the module is null");
  register_module("module", module_);
  reducer_ = make_ddp_reducer(module_->named_parameters(), module_->buffers(), group_, options_);
}

void DistributedDataParallel::pre_forward() {
  if (options_.broadcast_buffers && group_->size() > 1 && is_training()) {
    TensorList buffers = module_->buffers();
    broadcast_coalesced(*group_, buffers, 0);
  }
}

void DistributedDataParallel::post_forward(const TensorList& outputs) {
  if (GradMode::is_enabled() && require_sync_ && is_training()) reducer_->prepare_for_backward(outputs);
  else reducer_->prepare_for_local_backward();
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  pre_forward();
  Tensor y = (*module_)(x);
  post_forward({y});
  return y;
}

}  // namespace anneal::distributed
