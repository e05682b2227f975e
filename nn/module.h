#pragma once
// Module: named parameters, buffers and child modules, train/eval, device and dtype moves,
// state dicts and hooks, in the manner of torch.nn.Module.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace anneal::nn {

// Ordered name → tensor map (insertion order is the module's registration order).
using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  virtual ~Module() = default;
  // The computation of a single-input module; composite modules override it.
  virtual Tensor forward(const Tensor& x);
  // Runs the forward pre-hooks, forward and the forward hooks.
  Tensor operator()(const Tensor& x);
  virtual std::string type_name() const = 0;     // "Linear"
  virtual std::string extra_repr() const { return ""; }  // "in_features=4, out_features=2"

  Tensor& register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // Replace-or-register, as assigning a module attribute does in PyTorch: a layer's
  // reference to its entry (Linear::weight) follows the new tensor, so `a.weight =
  // b.weight` ties the two. An undefined tensor leaves the slot empty (PyTorch's None).
  Tensor& set_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor& set_buffer(const std::string& name, Tensor value);
  void set_child(const std::string& name, std::shared_ptr<Module> m);
  // Removal leaves an empty slot for parameters and buffers (layers may hold references).
  void remove_parameter(const std::string& name);
  void remove_buffer(const std::string& name);
  void remove_child(const std::string& name);
  // This module's own entries, empty slots included.
  StateDict parameter_slots() const { return {params_.begin(), params_.end()}; }
  StateDict buffer_slots() const { return {buffers_.begin(), buffers_.end()}; }

  StateDict named_parameters(bool recurse = true) const;
  TensorList parameters(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  TensorList buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();  // self first, as ""
  int64_t num_parameters() const;

  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves/casts parameters and buffers in place: tensors keep their identity, so an
  // optimizer built before the move still updates them. Only floating tensors are cast.
  void to(Device device);
  void to(DType dtype);
  void zero_grad(bool set_to_none = true);
  void apply(const std::function<void(Module&)>& fn);

  // Parameters and buffers by dotted name (shares storage with the module).
  StateDict state_dict() const;
  // Copies values in. strict: missing and unexpected keys are errors (listed by name);
  // a shape mismatch is always an error.
  void load_state_dict(const StateDict& state, bool strict = true);

  using PreHook = std::function<std::optional<Tensor>(Module&, const Tensor& input)>;
  using PostHook = std::function<std::optional<Tensor>(Module&, const Tensor& input, const Tensor& output)>;
  void register_forward_pre_hook(PreHook h) { pre_hooks_.push_back(std::move(h)); }
  void register_forward_hook(PostHook h) { post_hooks_.push_back(std::move(h)); }

  // PyTorch-like printed tree, with the parameter count on the last line.
  std::string to_string() const;

 protected:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  Tensor& param(const std::string& name);
  Tensor& buffer(const std::string& name);

 private:
  void collect(const std::string& prefix, bool params, bool recurse, StateDict& out) const;
  void print(std::ostream& os, int indent) const;
  void for_each_tensor(const std::function<void(Tensor&)>& fn);

  bool training_ = true;
  // deques: layers keep references to their entries (Linear::weight), which must survive
  // later registrations
  std::deque<std::pair<std::string, Tensor>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<PreHook> pre_hooks_;
  std::vector<PostHook> post_hooks_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace anneal::nn
