#pragma once
// Optimizers in the manner of torch.optim: parameter groups with their own options, a
// per-parameter state, zero_grad, and a state dict for checkpoints.
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace anneal::optim {

using Options = std::map<std::string, double>;

struct ParamGroup {
  TensorList params;
  Options options;  // "lr", "momentum", "weight_decay", ...: missing keys take the defaults
  double get(const std::string& key) const;
};

// What state_dict() returns: each group's options, and each parameter's state by its
// position across the groups (as PyTorch numbers them).
struct OptimizerState {
  std::vector<Options> groups;
  std::map<int64_t, std::map<std::string, Tensor>> state;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, Options defaults);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  virtual std::string name() const = 0;
  void zero_grad(bool set_to_none = true);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  void add_param_group(ParamGroup group);
  // (virtual: an optimizer whose state lives elsewhere, ZeroRedundancyOptimizer's shards,
  // gathers and scatters it)
  virtual OptimizerState state_dict() const;
  // Checks `s` first (check_state_dict) and changes nothing when it is wrong.
  virtual void load_state_dict(const OptimizerState& s);
  // Whether `s` fits this optimizer, changing nothing: as many groups, known options with
  // values in range, and every parameter's state complete (all that step() reads) with the
  // parameter's shape. ValueError naming what is wrong.
  virtual void check_state_dict(const OptimizerState& s) const;
  // The state of one parameter ("momentum_buffer", "exp_avg", ...).
  std::map<std::string, Tensor>& state_of(const Tensor& p) { return state_[p.impl()]; }

 protected:
  // A group's options in range (ValueError otherwise); every optimizer adds its own rules.
  // Called for each group at construction, add_param_group and load_state_dict.
  virtual void check_options(const Options& o) const;
  // The state a parameter must hold once it has any (the keys step() reads).
  virtual std::vector<std::string> required_state(const Options& /*group*/) const { return {}; }
  std::vector<ParamGroup> groups_;
  Options defaults_;
  std::unordered_map<const void*, std::map<std::string, Tensor>> state_;
};

// SGD with momentum, dampening, Nesterov and (L2) weight decay.
class SGD : public Optimizer {
 public:
  SGD(TensorList params, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
      bool nesterov = false, bool maximize = false);
  SGD(std::vector<ParamGroup> groups, Options defaults);
  void step() override;
  std::string name() const override { return "SGD"; }

 protected:
  void check_options(const Options& o) const override;
  std::vector<std::string> required_state(const Options& o) const override;
};

// Adam, and AdamW when decoupled_weight_decay (the weight decay multiplies the weights
// instead of joining the gradient).
class Adam : public Optimizer {
 public:
  // capturable: keep the step count on the parameters' device and compute the bias
  // corrections there, so the step can be captured in a CUDA graph (a few more kernels).
  Adam(TensorList params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0, bool amsgrad = false, bool capturable = false);
  Adam(std::vector<ParamGroup> groups, Options defaults, bool decoupled_weight_decay = false);
  void step() override;
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }

 protected:
  void check_options(const Options& o) const override;
  std::vector<std::string> required_state(const Options& o) const override;
  bool decoupled_ = false;

 private:
  void step_on_device(const Tensor& p, const Tensor& grad, Tensor& step, const Tensor& m, const Tensor& v,
                      const Tensor& max_v, double lr, double b1, double b2, double eps);
};

class AdamW : public Adam {
 public:
  AdamW(TensorList params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2, bool amsgrad = false, bool capturable = false);
};

class RMSprop : public Optimizer {
 public:
  RMSprop(TensorList params, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weight_decay = 0,
          double momentum = 0, bool centered = false);
  void step() override;
  std::string name() const override { return "RMSprop"; }

 protected:
  void check_options(const Options& o) const override;
  std::vector<std::string> required_state(const Options& o) const override;
};

class Adagrad : public Optimizer {
 public:
  Adagrad(TensorList params, double lr = 1e-2, double lr_decay = 0, double weight_decay = 0,
          double initial_accumulator_value = 0, double eps = 1e-10);
  void step() override;
  std::string name() const override { return "Adagrad"; }

 protected:
  void check_options(const Options& o) const override;
  std::vector<std::string> required_state(const Options& o) const override;
};

}  // namespace anneal::optim
