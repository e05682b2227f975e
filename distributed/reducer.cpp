#include "distributed/reducer.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "core/autograd/engine.h"
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "distributed/coalesced.h"
#include "ops/factory.h"
#include "ops/shape.h"
#include "runtime/thread_pool.h"

namespace anneal::distributed {
namespace {

CommHook compress_hook(DType wire) {
  return [wire](ProcessGroup& group, Tensor& bucket) -> WorkPtr {
    Tensor compressed;
    {
      NoGradGuard ng;
      compressed = bucket.to(wire);
    }
    WorkPtr w = group.all_reduce(compressed, ReduceOp::Sum);
    Tensor out = bucket;
    w->then([compressed, out](Work& work) mutable {
      if (work.exception()) return;
      NoGradGuard ng;
      cpu::SerialScope serial;  // on the communication thread: no OpenMP team beside the compute's
      out.copy_(compressed);
    });
    return w;
  };
}

}  // namespace

CommHook fp16_compress_hook() { return compress_hook(DType::Float16); }
CommHook bf16_compress_hook() { return compress_hook(DType::BFloat16); }

std::shared_ptr<Reducer> Reducer::create(TensorList params, std::vector<std::string> names, ProcessGroupPtr group,
                                         ReducerOptions options) {
  ANNEAL_CHECK(group, ValueError, "DistributedDataParallel: no process group (call init_process_group first)");
  ANNEAL_CHECK(names.empty() || names.size() == params.size(), ValueError, "Reducer: ", names.size(), " names for ",
               params.size(), " parameters");
  if (names.empty())
    for (size_t i = 0; i < params.size(); ++i) names.push_back(str("parameter ", i));
  std::unordered_set<const void*> seen;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    ANNEAL_CHECK(p.defined() && p.is_leaf() && p.requires_grad(), ValueError, "DistributedDataParallel: ", names[i],
                 " is not a leaf tensor that requires grad");
    ANNEAL_CHECK(seen.insert(p.impl()).second, ValueError, "DistributedDataParallel: ", names[i],
                 " is listed twice (shared parameters are synchronised once: list each tensor once)");
    ANNEAL_CHECK(p.device().type == group->device_type(), DeviceError, "DistributedDataParallel: ", names[i], " is on ",
                 p.device().str(), " but the ", group->backend_name(), " process group moves ",
                 group->device_type() == DeviceType::CPU ? "CPU" : "CUDA", " tensors");
  }
  ANNEAL_CHECK(options.bucket_cap_bytes > 0 && options.first_bucket_cap_bytes > 0, ValueError,
               "DistributedDataParallel: bucket sizes must be positive (bucket_cap_mb)");
  verify_same_parameters(*group, params, names);
  std::shared_ptr<Reducer> r(new Reducer(std::move(params), std::move(names), std::move(group), options));
  std::weak_ptr<Reducer> weak = r;
  for (size_t i = 0; i < r->params_.size(); ++i) {
    r->params_[i].register_post_accumulate_grad_hook([weak, i](const Tensor&) {
      if (auto self = weak.lock()) self->on_gradient(i);
    });
  }
  return r;
}

Reducer::Reducer(TensorList params, std::vector<std::string> names, ProcessGroupPtr group, ReducerOptions options)
    : params_(std::move(params)), names_(std::move(names)), group_(std::move(group)), options_(options) {
  std::vector<size_t> order;
  for (size_t i = params_.size(); i-- > 0;) order.push_back(i);  // gradients arrive last layer first
  options_.first_bucket_cap_bytes = std::min(options_.first_bucket_cap_bytes, options_.bucket_cap_bytes);
  build_buckets(order);
  ready_.assign(params_.size(), 0);
  locally_used_.assign(params_.size(), 0);
}

std::string Reducer::describe(size_t i) const { return str(names_[i], " (index ", i, ")"); }

void Reducer::build_buckets(const std::vector<size_t>& order) {
  // One open bucket per (dtype, device); the first bucket of each is small so that the
  // first all-reduce starts soon after backward begins.
  struct Open {
    Bucket b;
    int64_t bytes = 0;
    bool first = true;
  };
  std::map<std::pair<int, std::string>, Open> open;
  std::vector<std::pair<size_t, Bucket>> closed;  // (position of the first parameter in order, bucket)
  std::map<size_t, size_t> first_pos;
  auto close = [&](Open& o) {
    if (o.b.params.empty()) return;
    closed.push_back({first_pos[o.b.params.front()], std::move(o.b)});
    o.b = Bucket();
    o.bytes = 0;
    o.first = false;
  };
  for (size_t pos = 0; pos < order.size(); ++pos) {
    const size_t i = order[pos];
    const Tensor& p = params_[i];
    auto key = std::make_pair(static_cast<int>(p.dtype()), p.device().str());
    Open& o = open[key];
    if (o.b.params.empty()) first_pos[i] = pos;
    o.b.params.push_back(i);
    o.bytes += p.numel() * static_cast<int64_t>(element_size(p.dtype()));
    if (o.bytes >= (o.first ? options_.first_bucket_cap_bytes : options_.bucket_cap_bytes)) close(o);
  }
  for (auto& [key, o] : open) close(o);
  std::sort(closed.begin(), closed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  std::vector<Bucket> buckets;
  where_.assign(params_.size(), {0, 0});
  for (auto& [pos, b] : closed) {
    int64_t total = 0;
    for (size_t s = 0; s < b.params.size(); ++s) {
      const Tensor& p = params_[b.params[s]];
      b.offsets.push_back(total);
      b.lengths.push_back(p.numel());
      total += p.numel();
      where_[b.params[s]] = {buckets.size(), s};
    }
    const Tensor& p0 = params_[b.params.front()];
    b.flat = zeros({total}, TensorOptions(p0.dtype(), p0.device()));
    buckets.push_back(std::move(b));
  }
  // gradient_as_bucket_view: existing gradients move into the new buckets
  if (options_.gradient_as_bucket_view) {
    NoGradGuard ng;
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor p = params_[i];
      if (!p.grad().defined()) continue;
      auto [bi, s] = where_[i];
      Tensor view = buckets[bi].flat.narrow(0, buckets[bi].offsets[s], buckets[bi].lengths[s]).view(p.sizes());
      view.copy_(p.grad());
      p.set_grad(view);
    }
  }
  buckets_ = std::move(buckets);
}

std::vector<std::vector<size_t>> Reducer::bucket_indices() const {
  std::vector<std::vector<size_t>> out;
  for (auto& b : buckets_) out.push_back(b.params);
  return out;
}

void Reducer::register_comm_hook(CommHook hook) {
  ANNEAL_CHECK(!hook_, ValueError, "register_comm_hook: a communication hook is already registered");
  hook_ = std::move(hook);
}

void Reducer::prepare_for_backward(const TensorList& outputs) {
  // A forward whose backward never ran (evaluation with grad on, say) leaves launched
  // buckets: finish them so every rank's collectives stay in step.
  for (auto& b : buckets_)
    if (b.work) {
      b.work->wait();
      b.work.reset();
    }
  if (first_iteration_done_ && !rebuilt_ && group_->size() > 1) rebuild_from_arrival_order();
  std::fill(ready_.begin(), ready_.end(), 0);
  std::fill(locally_used_.begin(), locally_used_.end(), 0);
  for (auto& b : buckets_) b.pending = b.params.size();
  next_bucket_ = 0;
  state_ = State::Prepared;
  finalize_queued_ = false;
  finished_before_end_ = 0;
  if (!options_.find_unused_parameters) return;

  // The parameters the graph of `outputs` reaches; the others are ready now (zeros).
  std::unordered_map<const void*, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].impl()] = i;
  std::vector<uint8_t> reached(params_.size(), 0);
  std::unordered_set<Node*> visited;
  std::vector<std::shared_ptr<Node>> stack;
  for (const Tensor& out : outputs) {
    if (!out.defined()) continue;
    if (auto fn = out.grad_fn()) stack.push_back(fn);
    else if (out.requires_grad()) {
      auto it = index.find(out.impl());
      if (it != index.end()) reached[it->second] = 1;
    }
  }
  while (!stack.empty()) {
    auto n = stack.back();
    stack.pop_back();
    if (!visited.insert(n.get()).second) continue;
    if (auto* acc = dynamic_cast<AccumulateGrad*>(n.get())) {
      auto it = index.find(acc->variable().impl());
      if (it != index.end()) reached[it->second] = 1;
    }
    for (auto& e : n->next_edges)
      if (e.valid()) stack.push_back(e.fn);
  }
  for (size_t i = 0; i < params_.size(); ++i)
    if (!reached[i]) mark_ready(i);
}

void Reducer::on_gradient(size_t i) {
  ANNEAL_CHECK(state_ != State::Finalized, distributed::DistError, "DistributedDataParallel: backward ran twice after one "
               "forward (", describe(i), " received a second gradient): the second backward's gradients would not be "
               "synchronised. Run forward again before each backward, or accumulate under no_sync()");
  if (state_ != State::Prepared) return;  // no_sync(), evaluation, or no forward through DDP yet
  ANNEAL_CHECK(!ready_[i], distributed::DistError, "DistributedDataParallel: ", describe(i),
               " received its gradient twice in one iteration. Either backward ran twice after one forward "
               "(run forward again per backward, or use no_sync() for gradient accumulation), or the parameter is "
               "used by a reentrant backward; with find_unused_parameters=true it may also be used after the "
               "forward returned");
  if (!finalize_queued_) {
    std::weak_ptr<Reducer> weak = weak_from_this();
    autograd::queue_callback([weak] {
      if (auto self = weak.lock()) self->finalize();
    });
    finalize_queued_ = true;
  }
  locally_used_[i] = 1;
  if (!first_iteration_done_) arrival_.push_back(i);
  mark_ready(i);
}

void Reducer::mark_ready(size_t i) {
  if (group_->size() == 1) {  // one rank: its gradient is already the average (or stays none): no copies
    ready_[i] = 1;
    return;
  }
  auto [bi, s] = where_[i];
  Bucket& b = buckets_[bi];
  Tensor p = params_[i];
  NoGradGuard ng;
  Tensor view = b.flat.narrow(0, b.offsets[s], b.lengths[s]);
  const Tensor& g = p.grad();
  if (g.defined()) {
    const bool is_view = g.data_ptr() == view.data_ptr();  // already in its slot (gradient_as_bucket_view)
    if (!is_view) view.copy_(g.reshape({-1}));
    if (options_.gradient_as_bucket_view && !is_view) p.set_grad(view.view(p.sizes()));
  } else {
    view.zero_();
  }
  ready_[i] = 1;
  if (--b.pending == 0) launch_ready_buckets();
}

void Reducer::launch_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& b = buckets_[next_bucket_++];
    if (hook_) {
      NoGradGuard ng;
      b.flat.div_(static_cast<double>(group_->size()));
      b.work = hook_(*group_, b.flat);
      ANNEAL_CHECK(b.work, ValueError, "DistributedDataParallel: the communication hook returned no work");
    } else if (is_floating(b.flat.dtype())) {
      b.work = group_->all_reduce(b.flat, ReduceOp::Avg);
    } else {
      b.work = group_->all_reduce(b.flat, ReduceOp::Sum);
    }
  }
}

void Reducer::finalize() {
  state_ = State::Finalized;
  finalize_queued_ = false;
  std::vector<size_t> missing;
  for (size_t i = 0; i < params_.size(); ++i)
    if (!ready_[i]) missing.push_back(i);
  if (!missing.empty()) {
    if (options_.find_unused_parameters) {
      // reached by the graph but no gradient flowed (a branch multiplied by zero grads,
      // say): zeros, like unused ones
      for (size_t i : missing) mark_ready(i);
    } else {
      for (auto& b : buckets_)
        if (b.work) {
          try {
            b.work->wait();
          } catch (...) {
          }
          b.work.reset();
        }
      std::string list;
      for (size_t k = 0; k < missing.size() && k < 20; ++k) list += (k ? ", " : "") + describe(missing[k]);
      if (missing.size() > 20) list += str(", ... (", missing.size(), " in all)");
      first_iteration_done_ = true;
      throw distributed::DistError(str(
          "DistributedDataParallel: ", missing.size(), " parameter(s) received no gradient in this backward: ", list,
          ". The module has parameters that were not used in producing the loss: pass find_unused_parameters=true "
          "to DistributedDataParallel, or make sure every forward output takes part in the loss"));
    }
  }
  if (group_->size() == 1) {
    first_iteration_done_ = true;
    return;
  }
  int64_t finished_early = 0;
  for (auto& b : buckets_)
    if (b.work && b.work->is_completed()) ++finished_early;
  for (auto& b : buckets_) {
    if (!b.work) continue;
    WorkPtr w = std::move(b.work);
    w->wait();
  }
  finished_before_end_ = finished_early;
  std::vector<uint8_t> used(params_.size(), 1);
  if (options_.find_unused_parameters) {
    // globally unused parameters keep their .grad untouched (as in PyTorch)
    Tensor bits = zeros({static_cast<int64_t>(params_.size())}, DType::Int32);
    int32_t* pb = bits.data_ptr<int32_t>();
    for (size_t i = 0; i < params_.size(); ++i) pb[i] = locally_used_[i];
    bits = bits.to(group_->device());
    group_->all_reduce(bits, ReduceOp::Max)->wait();
    bits = bits.cpu();
    pb = bits.data_ptr<int32_t>();
    for (size_t i = 0; i < params_.size(); ++i) used[i] = pb[i] != 0;
  }
  NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!used[i]) continue;
    auto [bi, s] = where_[i];
    Bucket& b = buckets_[bi];
    Tensor p = params_[i];
    Tensor view = b.flat.narrow(0, b.offsets[s], b.lengths[s]).view(p.sizes());
    if (options_.gradient_as_bucket_view) {
      if (!p.grad().defined()) p.set_grad(view);
    } else if (p.grad().defined()) {
      p.mutable_grad().copy_(view);
    } else {
      p.set_grad(view.clone());
    }
  }
  first_iteration_done_ = true;
}

void Reducer::rebuild_from_arrival_order() {
  rebuilt_ = true;
  const int64_t n = static_cast<int64_t>(params_.size());
  // Rank 0's order decides (every rank must build the same buckets); an incomplete order
  // (unused parameters) keeps the buckets as they are.
  std::vector<int64_t> order(static_cast<size_t>(n) + 1, -1);
  const bool complete = arrival_.size() == params_.size();
  order[0] = complete ? n : 0;
  if (complete)
    for (int64_t k = 0; k < n; ++k) order[static_cast<size_t>(k) + 1] = static_cast<int64_t>(arrival_[static_cast<size_t>(k)]);
  Tensor t = tensor(order).to(group_->device());
  group_->broadcast(t, 0)->wait();
  t = t.cpu();
  const int64_t* o = t.data_ptr<int64_t>();
  if (o[0] != n) return;
  std::vector<size_t> new_order;
  std::vector<uint8_t> seen(params_.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t i = o[k + 1];
    if (i < 0 || i >= n || seen[static_cast<size_t>(i)]) return;  // not a permutation: keep the buckets
    seen[static_cast<size_t>(i)] = 1;
    new_order.push_back(static_cast<size_t>(i));
  }
  build_buckets(new_order);
}

}  // namespace anneal::distributed
