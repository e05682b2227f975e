#include "core/autograd/node.h"

#include "core/autograd/grad_math.h"
#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/tensor_impl.h"

namespace anneal {

static std::atomic<uint64_t> g_next_sequence_nr{0};
Node::Node() : sequence_nr_(g_next_sequence_nr.fetch_add(1)) {}

Node::~Node() {
  for (Edge& e : next_edges) autograd::release_node(std::move(e.fn));
}

namespace {
struct ReleaseQueue {
  std::vector<std::shared_ptr<Node>> pending;
  bool draining = false;
};
thread_local ReleaseQueue t_release;
}  // namespace

void autograd::release_node(std::shared_ptr<Node>&& node) noexcept {
  if (!node) return;
  ReleaseQueue& q = t_release;
  q.pending.push_back(std::move(node));
  if (q.draining) return;  // an outer call is emptying the queue
  q.draining = true;
  while (!q.pending.empty()) {
    std::shared_ptr<Node> next = std::move(q.pending.back());
    q.pending.pop_back();
    next.reset();  // a destructor run here queues what it owned
  }
  q.draining = false;
}

TensorList FunctionNode::apply(TensorList&& grads) {
  ANNEAL_CHECK(fn_ != nullptr, AutogradError, name_,
               ": Trying to backward through the graph a second time (or directly access saved tensors after they "
               "have already been freed). Saved intermediate values of the graph are freed when you call "
               ".backward() or autograd.grad(). Specify retain_graph=true if you need to backward through the graph "
               "a second time or if you need to access saved tensors after calling backward.");
  // Undefined output gradients are zeros: closures may assume every grad is defined.
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) {
      const auto& m = output_meta[i];
      grads[i] = autograd::math::zeros(m.shape, m.dtype, m.device);
    }
  }
  TensorList out = fn_(grads);
  ANNEAL_CHECK(out.size() == next_edges.size(), AutogradError, name_, ": backward returned ", out.size(),
               " gradients, expected ", next_edges.size());
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].defined() || !next_edges[i].valid()) {
      out[i] = Tensor();
      continue;
    }
    const auto& m = next_edges[i].meta;
    if (out[i].sizes() != m.shape || out[i].dtype() != m.dtype) out[i] = autograd::math::reduce_to(out[i], m.shape, m.dtype);
  }
  return out;
}

AccumulateGrad::AccumulateGrad(Tensor leaf) : leaf_(std::move(leaf)) {}

TensorList AccumulateGrad::apply(TensorList&& grads) {
  Tensor g = std::move(grads.at(0));
  if (!g.defined()) return {};
  auto& meta = leaf_.impl()->ensure_autograd();
  for (auto& hook : meta.leaf_hooks) {
    Tensor r = hook(g);
    if (r.defined()) g = r;
  }
  if (!meta.grad.defined()) {
    // Steal the incoming gradient when nothing else holds it or its memory (a view of
    // another gradient would make two .grad tensors share storage); otherwise copy, so
    // that later in-place accumulation cannot write into another tensor.
    const bool sole_owner = g.impl_ptr().use_count() == 1 && g.impl()->storage().use_count() == 1;
    if (GradMode::is_enabled()) meta.grad = g;  // create_graph: keep its history
    else if (sole_owner && g.is_contiguous() && !g.requires_grad()) meta.grad = g;
    else meta.grad = g.detach().clone();
  } else if (GradMode::is_enabled()) {
    meta.grad = autograd::math::add(meta.grad, g);
  } else {
    autograd::math::add_inplace(meta.grad, g);
  }
  for (auto& hook : meta.post_accumulate_hooks) hook(leaf_);
  return {};
}

SavedTensor::SavedTensor(const Tensor& t, bool is_output) : is_output_(is_output) {
  if (!t.defined()) return;
  data_ = t.detach();
  saved_version_ = t.version();
  requires_grad_ = t.requires_grad();
  output_nr_ = t.output_nr();
  if (is_output) {
    weak_grad_fn_ = t.grad_fn();
  } else if (t.is_leaf()) {
    if (requires_grad_) leaf_ = t.impl_ptr();
  } else {
    grad_fn_ = t.grad_fn();
  }
}

SavedTensor::~SavedTensor() { autograd::release_node(std::move(grad_fn_)); }

Tensor SavedTensor::unpack() const {
  if (!data_.defined()) return Tensor();
  uint64_t now = data_.version();
  ANNEAL_CHECK(now == saved_version_, AutogradError,
               "one of the variables needed for gradient computation has been modified by an inplace operation: [",
               dtype_name(data_.dtype()), " ", data_.shape_str(), "] is at version ", now, "; expected version ",
               saved_version_, " instead.");
  if (leaf_) return Tensor(leaf_);
  if (!requires_grad_) return data_;
  std::shared_ptr<Node> fn = is_output_ ? weak_grad_fn_.lock() : grad_fn_;
  if (!fn) return data_;
  // A fresh handle on the same data that carries the history, for double backward.
  Tensor t = data_.detach();
  auto& m = t.impl()->ensure_autograd();
  m.requires_grad = true;
  m.grad_fn = fn;
  m.output_nr = output_nr_;
  return t;
}

namespace autograd {

std::shared_ptr<Node> grad_accumulator(const Tensor& t) {
  auto& meta = t.impl()->ensure_autograd();
  if (auto acc = meta.grad_accumulator.lock()) return acc;
  auto acc = std::make_shared<AccumulateGrad>(t);
  acc->output_meta.push_back({t.sizes(), t.dtype(), t.device()});
  meta.grad_accumulator = acc;
  return acc;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  if (auto fn = t.grad_fn()) return {fn, t.output_nr(), {}};
  return {grad_accumulator(t), 0, {}};
}

template <typename List>
static bool any_requires_grad_impl(const List& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}
bool any_requires_grad(const TensorList& inputs) { return any_requires_grad_impl(inputs); }
bool any_requires_grad(std::initializer_list<Tensor> inputs) { return any_requires_grad_impl(inputs); }

template <typename In, typename Out>
void set_history(const std::shared_ptr<Node>& node, const In& inputs, const Out& outputs) {
  node->next_edges.clear();
  node->next_edges.reserve(inputs.size());
  for (const auto& t : inputs) {
    node->next_edges.push_back(gradient_edge(t));
    if (t.defined()) node->next_edges.back().meta = {t.sizes(), t.dtype(), t.device()};
  }
  node->output_meta.clear();
  node->output_meta.reserve(outputs.size());
  uint32_t i = 0;
  for (const Tensor& o : outputs) {
    node->output_meta.push_back({o.sizes(), o.dtype(), o.device()});
    auto& m = o.impl()->ensure_autograd();
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = i++;
  }
}
template void set_history(const std::shared_ptr<Node>&, const TensorList&, const TensorList&);

std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             FunctionNode::BackwardFn backward) {
  if (!any_requires_grad(inputs)) return nullptr;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  set_history(node, inputs, outputs);
  return node;
}
std::shared_ptr<Node> record(const char* name, std::initializer_list<Tensor> inputs,
                             std::initializer_list<Tensor> outputs, FunctionNode::BackwardFn backward) {
  if (!any_requires_grad(inputs)) return nullptr;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  set_history(node, inputs, outputs);
  return node;
}

}  // namespace autograd
}  // namespace anneal
