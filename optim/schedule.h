#pragma once
// Learning-rate schedules (torch.optim.lr_scheduler) and gradient clipping.
#include <map>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace anneal::optim {

// Sets each group's options["lr"] as a function of the step count. Constructing one sets
// the step-0 rate; call step() after each optimizer step (or epoch).
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt);
  virtual ~LRScheduler() = default;
  void step();
  int64_t last_step() const { return step_; }
  void set_last_step(int64_t s);  // resuming from a checkpoint
  std::vector<double> last_lr() const;
  // For checkpoints: the step and the base rates ("last_step", "base_lr.0", ...).
  std::map<std::string, double> state_dict() const;
  // Checks first (check_state_dict) and changes nothing when the state is wrong.
  void load_state_dict(const std::map<std::string, double>& state);
  // ValueError unless `state` is complete and in range for this scheduler's optimizer.
  void check_state_dict(const std::map<std::string, double>& state) const;

 protected:
  virtual double lr_at(int64_t step, double base_lr) const = 0;
  // Sets the rates of step_ (and whatever else a schedule drives).
  virtual void apply();
  Optimizer& opt_;
  std::vector<double> base_lrs_;
  int64_t step_ = 0;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);
 protected:
  double lr_at(int64_t s, double base) const override;
 private:
  int64_t step_size_;
  double gamma_;
};

class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1);
 protected:
  double lr_at(int64_t s, double base) const override;
 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& opt, double gamma);
 protected:
  double lr_at(int64_t s, double base) const override;
 private:
  double gamma_;
};

// Cosine from the base rate down to eta_min over t_max steps (PyTorch's closed form).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min = 0);
 protected:
  double lr_at(int64_t s, double base) const override;
 private:
  int64_t t_max_;
  double eta_min_;
};

// Linear change of a factor of the base rate from start_factor to end_factor.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);
 protected:
  double lr_at(int64_t s, double base) const override;
 private:
  double start_, end_;
  int64_t total_;
};

// Linear warm-up from 0 over warmup_steps, then cosine decay to min_lr at total_steps.
class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& opt, int64_t warmup_steps, int64_t total_steps, double min_lr = 0);
 protected:
  double lr_at(int64_t s, double base) const override;
 private:
  int64_t warmup_, total_;
  double min_lr_;
};

// The 1cycle policy (learning rate only): max_lr/div_factor up to max_lr over
// pct_start of the steps, then cosine down to initial/final_div_factor.
// With cycle_momentum (the default, as PyTorch), momentum (SGD) or beta1 (Adam) moves
// opposite to the rate: max_momentum -> base_momentum while the rate rises, back after.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, double max_lr, int64_t total_steps, double pct_start = 0.3, double div_factor = 25,
             double final_div_factor = 1e4, bool cycle_momentum = true, double base_momentum = 0.85,
             double max_momentum = 0.95);
 protected:
  double lr_at(int64_t s, double base) const override;
  void apply() override;
 private:
  double phase(int64_t s, double start_up, double end_up, double end_down) const;
  double max_lr_, initial_, min_;
  int64_t total_;
  double pct_;
  bool cycle_momentum_;
  double base_momentum_, max_momentum_;
};

// Multiplies the rate by `factor` when the metric has not improved for `patience` steps.
class ReduceLROnPlateau {
 public:
  enum class Mode { Min, Max };
  ReduceLROnPlateau(Optimizer& opt, Mode mode = Mode::Min, double factor = 0.1, int64_t patience = 10,
                    double threshold = 1e-4, int64_t cooldown = 0, double min_lr = 0);
  void step(double metric);
  std::map<std::string, double> state_dict() const;  // "best", "bad_steps", "cooldown_left"
  void load_state_dict(const std::map<std::string, double>& state);
  void check_state_dict(const std::map<std::string, double>& state) const;

 private:
  Optimizer& opt_;
  Mode mode_;
  double factor_, threshold_, min_lr_;
  int64_t patience_, cooldown_, cooldown_left_ = 0, bad_ = 0;
  double best_;
};

// Scales all gradients so their joint p-norm is at most max_norm; returns the norm before
// clipping. A non-finite norm is an error when error_if_nonfinite (the gradients are then
// left untouched).
double clip_grad_norm_(const TensorList& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
void clip_grad_value_(const TensorList& params, double clip_value);

}  // namespace anneal::optim
