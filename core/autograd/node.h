#pragma once
// The backward graph: each Node computes the gradients of its forward inputs from the
// gradients of its forward outputs, and points at the nodes of those inputs (Edges).
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace anneal {

// What a tensor looked like when it entered or left an op, so a gradient can be reduced
// (broadcast), cast back (promotion) or made as zeros.
struct InputMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
};

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;  // which gradient slot of fn this edge feeds
  InputMeta meta;         // the forward input this edge stands for
  bool valid() const { return fn != nullptr; }
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  // Releases the next edges through autograd::release_node, so a chain of any length is
  // torn down in a loop instead of one nested destructor per node.
  virtual ~Node();
  virtual std::string name() const = 0;
  // grads[i] is the gradient of forward output i (may be undefined = zero). Returns one
  // gradient per next edge (undefined where there is none).
  virtual TensorList apply(TensorList&& grads) = 0;
  virtual void release_saved() {}

  uint64_t sequence_nr() const { return sequence_nr_; }
  std::vector<Edge> next_edges;       // one per forward input
  std::vector<InputMeta> output_meta;  // one per forward output (gradient slot)
  // Hooks on the gradient of a forward output (tensor.register_hook on a non-leaf).
  std::map<uint32_t, std::vector<Tensor::Hook>> pre_hooks;

 private:
  uint64_t sequence_nr_;
};

// Backward of an op written as a closure. The closure owns the saved tensors; after a
// backward without retain_graph it is destroyed, which frees them, and a second backward
// is a clear error.
class FunctionNode final : public Node {
 public:
  using BackwardFn = std::function<TensorList(const TensorList& grads)>;
  FunctionNode(std::string name, BackwardFn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  TensorList apply(TensorList&& grads) override;
  void release_saved() override { fn_ = nullptr; }

 private:
  std::string name_;
  BackwardFn fn_;
};

// Writes the gradient into a leaf's .grad (summing with what is there).
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Tensor leaf);
  std::string name() const override { return "AccumulateGrad"; }
  TensorList apply(TensorList&& grads) override;
  const Tensor& variable() const { return leaf_; }

 private:
  Tensor leaf_;
};

// A tensor as saved for backward. Saving an op's own output keeps only a weak link to
// the node (a strong one would be a cycle); the version at save time is checked when the
// tensor is used, so an in-place write in between is reported instead of giving wrong
// gradients.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  ~SavedTensor();  // hands the saved grad_fn to autograd::release_node
  SavedTensor(const SavedTensor&) = default;
  SavedTensor(SavedTensor&&) noexcept = default;
  SavedTensor& operator=(const SavedTensor&) = default;
  SavedTensor& operator=(SavedTensor&&) noexcept = default;
  Tensor unpack() const;
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;  // shares storage, no autograd meta
  uint64_t saved_version_ = 0;
  bool is_output_ = false;
  bool requires_grad_ = false;
  std::weak_ptr<Node> weak_grad_fn_;
  std::shared_ptr<Node> grad_fn_;  // inputs only
  uint32_t output_nr_ = 0;
  std::weak_ptr<Node> grad_accumulator_;
  std::shared_ptr<TensorImpl> leaf_;  // saved leaf inputs keep their identity
};

namespace autograd {

// Drops one owner of a node without recursing: a node freed here that owns the next one
// queues it instead of destroying it from inside its own destructor, and the outermost
// call empties the queue. Graphs of hundreds of thousands of chained ops (an unrolled RNN,
// a long Python loop) would otherwise overflow the stack when they are freed.
void release_node(std::shared_ptr<Node>&& node) noexcept;

// The edge a gradient w.r.t. `t` must flow into (its grad_fn, or its accumulator if it
// is a leaf that requires grad); invalid if `t` does not require grad.
Edge gradient_edge(const Tensor& t);
std::shared_ptr<Node> grad_accumulator(const Tensor& t);
// True when grad mode is on and any input requires grad.
bool any_requires_grad(const TensorList& inputs);
bool any_requires_grad(std::initializer_list<Tensor> inputs);
// Attaches `node` as grad_fn of `outputs` with edges to `inputs`.
template <typename In, typename Out>
void set_history(const std::shared_ptr<Node>& node, const In& inputs, const Out& outputs);
// The common case: records a FunctionNode if any input needs a gradient; returns it
// (null when nothing was recorded).
std::shared_ptr<Node> record(const char* name, const TensorList& inputs, const TensorList& outputs,
                             FunctionNode::BackwardFn backward);
// The same for brace lists, without building vectors on the hot path.
std::shared_ptr<Node> record(const char* name, std::initializer_list<Tensor> inputs,
                             std::initializer_list<Tensor> outputs, FunctionNode::BackwardFn backward);

}  // namespace autograd
}  // namespace anneal
