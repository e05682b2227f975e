// The backward engine. It walks the graph with explicit stacks and a ready queue, never
// by recursion, so a 10,000-op chain cannot overflow the C++ stack; a node runs once
// all gradients flowing into it have arrived (dependency counting), latest node first.
#include "core/autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/autograd/grad_math.h"
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/error.h"
#include "core/tensor_impl.h"

namespace anneal::autograd {
namespace {

struct Capture {
  Node* node;
  uint32_t slot;
};

struct CompareSeq {
  bool operator()(Node* a, Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

// The end-of-backward callbacks of the backward running on this thread (a stack: a hook
// may itself run a backward).
thread_local std::vector<std::function<void()>>* t_callbacks = nullptr;

struct CallbackScope {
  std::vector<std::function<void()>> callbacks;
  std::vector<std::function<void()>>* prev;
  CallbackScope() : prev(t_callbacks) { t_callbacks = &callbacks; }
  ~CallbackScope() { t_callbacks = prev; }
  void run() {
    // a callback may queue another: index, not iterators
    for (size_t i = 0; i < callbacks.size(); ++i) {
      auto fn = std::move(callbacks[i]);
      fn();
    }
    callbacks.clear();
  }
};

// Runs the graph below `roots`. With captures (autograd.grad), only nodes leading to a
// captured slot run, AccumulateGrad never runs, and the captured gradients are returned.
TensorList run_backward(const TensorList& outputs, const TensorList& grad_outputs, bool keep_graph, bool create_graph,
                        const std::vector<Capture>* captures) {
  ANNEAL_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ValueError, "backward: got ",
               grad_outputs.size(), " gradients for ", outputs.size(), " tensors");
  std::vector<Edge> root_edges;
  TensorList root_grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    ANNEAL_CHECK(out.defined(), ValueError, "backward: tensor ", i, " is undefined");
    Edge e = gradient_edge(out);
    ANNEAL_CHECK(e.valid(), AutogradError, "element ", i,
                 " of tensors does not require grad and does not have a grad_fn");
    Tensor g = i < grad_outputs.size() ? grad_outputs[i] : Tensor();
    if (!g.defined()) {
      ANNEAL_CHECK(out.numel() == 1, AutogradError, "grad can be implicitly created only for scalar outputs (got shape ",
                   out.shape_str(), ")");
      g = math::ones_like(out);
    } else {
      ANNEAL_CHECK(g.sizes() == out.sizes(), ValueError, "backward: mismatch in shape: grad_output[", i,
                   "] has a shape of ", g.shape_str(), " and output[", i, "] has a shape of ", out.shape_str());
    }
    root_edges.push_back(e);
    root_grads.push_back(g);
  }

  // Discover the graph (iteratively) and, for autograd.grad, which nodes lead to a capture.
  std::unordered_map<Node*, std::shared_ptr<Node>> nodes;
  std::vector<Node*> order;  // post-order: children before parents
  {
    std::vector<std::pair<Node*, size_t>> stack;
    for (auto& e : root_edges) {
      if (nodes.emplace(e.fn.get(), e.fn).second) stack.push_back({e.fn.get(), 0});
      while (!stack.empty()) {
        auto& [n, next] = stack.back();
        if (next < n->next_edges.size()) {
          const Edge& child = n->next_edges[next++];
          if (child.valid() && nodes.emplace(child.fn.get(), child.fn).second) stack.push_back({child.fn.get(), 0});
        } else {
          order.push_back(n);
          stack.pop_back();
        }
      }
    }
  }
  std::unordered_map<Node*, std::vector<std::pair<uint32_t, size_t>>> capture_at;
  std::unordered_set<Node*> needed;  // nodes whose apply must run
  if (captures) {
    for (size_t i = 0; i < captures->size(); ++i) capture_at[(*captures)[i].node].push_back({(*captures)[i].slot, i});
    std::unordered_set<Node*> reaches;  // nodes from which a capture is reachable (inclusive)
    for (Node* n : order) {
      bool r = capture_at.count(n) > 0;
      bool child_reaches = false;
      for (auto& e : n->next_edges)
        if (e.valid() && reaches.count(e.fn.get())) child_reaches = true;
      if (r || child_reaches) reaches.insert(n);
      if (child_reaches) needed.insert(n);
    }
  } else {
    for (Node* n : order) needed.insert(n);
  }

  std::unordered_map<Node*, int> deps;
  for (Node* n : order) {
    if (!needed.count(n)) continue;
    for (auto& e : n->next_edges)
      if (e.valid()) ++deps[e.fn.get()];
  }

  std::unordered_map<Node*, TensorList> buffers;
  auto accumulate = [&](Node* n, uint32_t slot, Tensor g) {
    auto& buf = buffers[n];
    if (buf.size() < n->output_meta.size()) buf.resize(std::max<size_t>(n->output_meta.size(), slot + 1));
    if (buf.size() <= slot) buf.resize(slot + 1);
    if (!buf[slot].defined()) buf[slot] = std::move(g);
    else buf[slot] = math::add(buf[slot], g);
  };
  for (size_t i = 0; i < root_edges.size(); ++i) accumulate(root_edges[i].fn.get(), root_edges[i].input_nr, root_grads[i]);

  TensorList captured(captures ? captures->size() : 0);
  std::priority_queue<Node*, std::vector<Node*>, CompareSeq> ready;
  std::unordered_set<Node*> queued;
  for (auto& e : root_edges) {
    Node* n = e.fn.get();
    if (deps[n] == 0 && queued.insert(n).second) ready.push(n);
  }

  // Backward formulas record a graph only when a higher derivative was asked for; the
  // callers restore the caller's mode afterwards.
  GradMode::set_enabled(create_graph);
  CallbackScope callback_scope;

  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    TensorList grads = std::move(buffers[n]);
    buffers.erase(n);
    grads.resize(n->output_meta.size());
    for (auto& [slot, hooks] : n->pre_hooks) {
      if (slot >= grads.size() || !grads[slot].defined()) continue;
      for (auto& hook : hooks) {
        Tensor r = hook(grads[slot]);
        if (r.defined()) grads[slot] = r;
      }
    }
    if (captures) {
      auto it = capture_at.find(n);
      if (it != capture_at.end())
        for (auto& [slot, idx] : it->second) captured[idx] = slot < grads.size() ? grads[slot] : Tensor();
    }
    if (!needed.count(n)) continue;
    TensorList out = n->apply(std::move(grads));
    if (!keep_graph) n->release_saved();
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      const Edge& e = n->next_edges[i];
      if (!e.valid()) continue;
      Node* child = e.fn.get();
      if (i < out.size() && out[i].defined()) accumulate(child, e.input_nr, std::move(out[i]));
      if (--deps[child] == 0 && queued.insert(child).second) ready.push(child);
    }
  }
  callback_scope.run();
  return captured;
}

}  // namespace

void backward(const TensorList& outputs, const TensorList& grad_outputs, bool retain_graph, bool create_graph) {
  bool prev = GradMode::is_enabled();
  try {
    run_backward(outputs, grad_outputs, retain_graph || create_graph, create_graph, nullptr);
  } catch (...) {
    GradMode::set_enabled(prev);
    throw;
  }
  GradMode::set_enabled(prev);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  std::vector<Capture> captures;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    ANNEAL_CHECK(t.defined() && t.requires_grad(), AutogradError, "grad: input ", i,
                 " does not require grad");
    Edge e = gradient_edge(t);
    captures.push_back({e.fn.get(), e.input_nr});
  }
  bool prev = GradMode::is_enabled();
  TensorList result;
  try {
    result = run_backward(outputs, grad_outputs, retain_graph.value_or(create_graph), create_graph, &captures);
  } catch (...) {
    GradMode::set_enabled(prev);
    throw;
  }
  GradMode::set_enabled(prev);
  for (size_t i = 0; i < result.size(); ++i) {
    ANNEAL_CHECK(result[i].defined() || allow_unused, AutogradError, "grad: input ", i,
                 " appears to not have been used in the graph. Set allow_unused=true if this is the desired behavior.");
  }
  return result;
}

void queue_callback(std::function<void()> fn) {
  ANNEAL_CHECK(t_callbacks != nullptr, AutogradError,
               "queue_callback: no backward is running on this thread (call it from a gradient hook)");
  t_callbacks->push_back(std::move(fn));
}

void zero_grads(const TensorList& tensors, bool set_to_none) {
  for (const Tensor& t : tensors) {
    if (!t.defined() || !t.grad().defined()) continue;
    Tensor p = t;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      NoGradGuard ng;
      p.mutable_grad().zero_();
    }
  }
}

}  // namespace anneal::autograd
