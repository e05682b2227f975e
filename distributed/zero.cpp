#include "distributed/zero.h"

#include <algorithm>

#include "core/autograd/grad_mode.h"
#include "distributed/coalesced.h"
#include "distributed/init.h"
#include "ops/factory.h"
#include "ops/shape.h"

namespace anneal::distributed {

ZeroRedundancyOptimizer::ZeroRedundancyOptimizer(TensorList params, Factory make_optimizer, ProcessGroupPtr group)
    : Optimizer({optim::ParamGroup{params, {}}}, {{"lr", 0.0}}),  // the wrapped optimizer's options replace these
      group_(group ? std::move(group) : default_group()),
      params_(std::move(params)) {
  ANNEAL_CHECK(!params_.empty(), ValueError, "ZeroRedundancyOptimizer: no parameters");
  ANNEAL_CHECK(make_optimizer, ValueError, "ZeroRedundancyOptimizer: no optimizer factory");
  for (size_t i = 0; i < params_.size(); ++i) {
    ANNEAL_CHECK(params_[i].dtype() == params_[0].dtype() && params_[i].device() == params_[0].device(), TypeError,
                 "ZeroRedundancyOptimizer: parameter ", i, " is ", dtype_name(params_[i].dtype()), " on ",
                 params_[i].device().str(), ", parameter 0 is ", dtype_name(params_[0].dtype()), " on ",
                 params_[0].device().str(), ": all must share one dtype and device");
    total_ += params_[i].numel();
  }
  const int n = group_->size();
  padded_ = (total_ + n - 1) / n * n;
  shard_ = padded_ / n;
  broadcast_coalesced(*group_, params_, 0);
  NoGradGuard ng;
  TensorList flat;
  for (auto& p : params_) flat.push_back(p.detach().reshape({-1}));
  if (padded_ > total_) flat.push_back(zeros({padded_ - total_}, TensorOptions(params_[0].dtype(), params_[0].device())));
  Tensor full = cat(flat, 0);
  shard_param_ = full.narrow(0, group_->rank() * shard_, shard_).clone();
  shard_param_.set_requires_grad(true);
  inner_ = make_optimizer({shard_param_});
  ANNEAL_CHECK(inner_, ValueError, "ZeroRedundancyOptimizer: the factory returned no optimizer");
  groups_[0].options = inner_->param_groups()[0].options;  // the outer group shows (and schedules) the inner's
}

void ZeroRedundancyOptimizer::step() {
  NoGradGuard ng;
  const auto opts = TensorOptions(params_[0].dtype(), params_[0].device());
  // The shard starts from the parameters as they are now (a checkpoint or load_state_dict
  // may have changed them since the last step): copy this rank's range in.
  {
    const int64_t lo = group_->rank() * shard_, hi = lo + shard_;
    int64_t off = 0;
    Tensor sp = shard_param_.detach();
    for (auto& p : params_) {
      const int64_t a = std::max(lo, off), b = std::min(hi, off + p.numel());
      if (a < b) sp.narrow(0, a - lo, b - a).copy_(p.detach().reshape({-1}).narrow(0, a - off, b - a));
      off += p.numel();
    }
  }
  TensorList flat;
  for (auto& p : params_) flat.push_back(p.grad().defined() ? p.grad().reshape({-1}) : zeros({p.numel()}, opts));
  if (padded_ > total_) flat.push_back(zeros({padded_ - total_}, opts));
  Tensor grads = cat(flat, 0);
  Tensor mine = empty({shard_}, opts);
  group_->reduce_scatter_tensor(mine, grads, ReduceOp::Avg)->wait();
  shard_param_.set_grad(mine);
  inner_->param_groups()[0].options = groups_[0].options;  // learning-rate schedules act on the outer group
  inner_->step();
  Tensor full = empty({padded_}, opts);
  group_->all_gather_into_tensor(full, shard_param_.detach())->wait();
  int64_t off = 0;
  for (auto& p : params_) {
    Tensor t = p;
    t.detach().copy_(full.narrow(0, off, p.numel()).view(p.sizes()));
    off += p.numel();
  }
}

optim::OptimizerState ZeroRedundancyOptimizer::state_dict() const {
  optim::OptimizerState inner = inner_->state_dict();
  optim::OptimizerState out;
  out.groups = {groups_[0].options};
  if (inner.state.empty()) {
    // every rank must take part below; an optimizer that has not stepped has no state
    return out;
  }
  const auto& shard_state = inner.state.at(0);
  for (auto& [key, t] : shard_state) {
    if (elementwise(t)) {
      Tensor full = empty({padded_}, TensorOptions(t.dtype(), t.device()));
      group_->all_gather_into_tensor(full, t.contiguous())->wait();
      int64_t off = 0;
      for (size_t i = 0; i < params_.size(); ++i) {
        out.state[static_cast<int64_t>(i)][key] = full.narrow(0, off, params_[i].numel()).view(params_[i].sizes()).clone();
        off += params_[i].numel();
      }
    } else {
      for (size_t i = 0; i < params_.size(); ++i) out.state[static_cast<int64_t>(i)][key] = t.clone();  // step counts
    }
  }
  return out;
}

void ZeroRedundancyOptimizer::check_state_dict(const optim::OptimizerState& s) const {
  ANNEAL_CHECK(s.groups.size() == 1, ValueError, name(), ": loaded state has ", s.groups.size(),
               " parameter groups, expected 1");
  for (auto& [i, st] : s.state) {
    ANNEAL_CHECK(i >= 0 && i < static_cast<int64_t>(params_.size()), ValueError, name(), ": state for parameter ", i,
                 " of ", params_.size());
    for (auto& [key, t] : st)
      ANNEAL_CHECK(t.defined() && (t.numel() <= 1 || t.sizes() == params_[static_cast<size_t>(i)].sizes()), ValueError,
                   name(), ": state '", key, "' of parameter ", i, " has shape ", t.defined() ? t.shape_str() : "undefined",
                   ", the parameter ", params_[static_cast<size_t>(i)].shape_str());
  }
  ANNEAL_CHECK(s.state.empty() || s.state.size() == params_.size(), ValueError, name(), ": state for ", s.state.size(),
               " of ", params_.size(), " parameters");
}

void ZeroRedundancyOptimizer::load_state_dict(const optim::OptimizerState& s) {
  check_state_dict(s);
  optim::OptimizerState inner;
  optim::Options o = inner_->param_groups()[0].options;
  for (auto& [k, v] : s.groups[0]) o[k] = v;
  inner.groups = {o};
  if (!s.state.empty()) {
    NoGradGuard ng;
    auto& dst = inner.state[0];
    for (auto& [key, first] : s.state.at(0)) {
      // per-element state has the parameter's shape; the rest (step counts) is shared
      const bool per_element = first.sizes() == params_[0].sizes() && key != "step";
      if (!per_element) {
        dst[key] = first.clone();
        continue;
      }
      TensorList flat;
      for (size_t i = 0; i < params_.size(); ++i) {
        auto it = s.state.at(static_cast<int64_t>(i)).find(key);
        ANNEAL_CHECK(it != s.state.at(static_cast<int64_t>(i)).end(), ValueError, name(), ": parameter ", i,
                     " has no state '", key, "'");
        flat.push_back(it->second.reshape({-1}).to(first.dtype()));
      }
      if (padded_ > total_) flat.push_back(zeros({padded_ - total_}, TensorOptions(first.dtype(), first.device())));
      dst[key] = cat(flat, 0).narrow(0, group_->rank() * shard_, shard_).clone();
    }
  }
  inner_->load_state_dict(inner);
  groups_[0].options = inner_->param_groups()[0].options;
}

}  // namespace anneal::distributed
