#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "ops/ops.h"

namespace anneal::optim {

LRScheduler::LRScheduler(Optimizer& opt) : opt_(opt) {
  for (auto& g : opt_.param_groups()) base_lrs_.push_back(g.get("lr"));
}
void LRScheduler::apply() {
  auto& groups = opt_.param_groups();
  for (size_t i = 0; i < groups.size() && i < base_lrs_.size(); ++i) groups[i].options["lr"] = lr_at(step_, base_lrs_[i]);
}
void LRScheduler::step() {
  ++step_;
  apply();
}
void LRScheduler::set_last_step(int64_t s) {
  ANNEAL_CHECK(s >= 0, ValueError, "scheduler: step must be non-negative, got ", s);
  step_ = s;
  apply();
}
std::map<std::string, double> LRScheduler::state_dict() const {
  std::map<std::string, double> s{{"last_step", double(step_)}};
  for (size_t i = 0; i < base_lrs_.size(); ++i) s["base_lr." + std::to_string(i)] = base_lrs_[i];
  return s;
}
// A whole number in [0, 2^53) (a step count that survives the double it is stored in).
static bool is_count(double v) { return std::isfinite(v) && v >= 0 && v < 0x1p53 && v == std::floor(v); }

void LRScheduler::check_state_dict(const std::map<std::string, double>& s) const {
  auto it = s.find("last_step");
  ANNEAL_CHECK(it != s.end(), ValueError, "scheduler state: 'last_step' is missing");
  ANNEAL_CHECK(is_count(it->second), ValueError, "scheduler state: 'last_step' must be a non-negative whole number, got ",
               it->second);
  for (size_t i = 0; i < base_lrs_.size(); ++i) {
    auto b = s.find("base_lr." + std::to_string(i));
    ANNEAL_CHECK(b != s.end(), ValueError, "scheduler state: 'base_lr.", i, "' is missing (the optimizer has ",
                 base_lrs_.size(), " parameter groups)");
    ANNEAL_CHECK(std::isfinite(b->second) && b->second >= 0, ValueError, "scheduler state: 'base_lr.", i,
                 "' must be a finite non-negative rate, got ", b->second);
  }
  ANNEAL_CHECK(!s.count("base_lr." + std::to_string(base_lrs_.size())), ValueError,
               "scheduler state has more base learning rates than the optimizer's ", base_lrs_.size(),
               " parameter groups");
}

void LRScheduler::load_state_dict(const std::map<std::string, double>& s) {
  check_state_dict(s);
  for (size_t i = 0; i < base_lrs_.size(); ++i) base_lrs_[i] = s.at("base_lr." + std::to_string(i));
  set_last_step(int64_t(s.at("last_step")));
}
std::vector<double> LRScheduler::last_lr() const {
  std::vector<double> out;
  for (auto& g : opt_.param_groups()) out.push_back(g.get("lr"));
  return out;
}

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma) : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
  ANNEAL_CHECK(step_size > 0, ValueError, "StepLR: step_size must be positive, got ", step_size);
  apply();
}
double StepLR::lr_at(int64_t s, double base) const { return base * std::pow(gamma_, double(s / step_size_)); }

MultiStepLR::MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(opt), milestones_(std::move(milestones)), gamma_(gamma) {
  ANNEAL_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()), ValueError,
               "MultiStepLR: milestones should be a list of increasing integers");
  apply();
}
double MultiStepLR::lr_at(int64_t s, double base) const {
  auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), s) - milestones_.begin();
  return base * std::pow(gamma_, double(passed));
}

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma) : LRScheduler(opt), gamma_(gamma) { apply(); }
double ExponentialLR::lr_at(int64_t s, double base) const { return base * std::pow(gamma_, double(s)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min)
    : LRScheduler(opt), t_max_(t_max), eta_min_(eta_min) {
  ANNEAL_CHECK(t_max > 0, ValueError, "CosineAnnealingLR: T_max must be positive, got ", t_max);
  apply();
}
double CosineAnnealingLR::lr_at(int64_t s, double base) const {
  return eta_min_ + (base - eta_min_) * (1 + std::cos(M_PI * double(s) / double(t_max_))) / 2;
}

LinearLR::LinearLR(Optimizer& opt, double start, double end, int64_t total)
    : LRScheduler(opt), start_(start), end_(end), total_(total) {
  ANNEAL_CHECK(start > 0 && start <= 1 && end >= 0 && end <= 1, ValueError,
               "LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1]");
  ANNEAL_CHECK(total > 0, ValueError, "LinearLR: total_iters must be positive");
  apply();
}
double LinearLR::lr_at(int64_t s, double base) const {
  return base * (start_ + (end_ - start_) * double(std::min(s, total_)) / double(total_));
}

WarmupCosineLR::WarmupCosineLR(Optimizer& opt, int64_t warmup, int64_t total, double min_lr)
    : LRScheduler(opt), warmup_(warmup), total_(total), min_lr_(min_lr) {
  ANNEAL_CHECK(warmup >= 0 && total > warmup, ValueError, "WarmupCosineLR: need 0 <= warmup_steps < total_steps, got ",
               warmup, " and ", total);
  apply();
}
double WarmupCosineLR::lr_at(int64_t s, double base) const {
  if (s < warmup_) return base * double(s + 1) / double(warmup_);
  double t = double(std::min(s, total_) - warmup_) / double(total_ - warmup_);
  return min_lr_ + (base - min_lr_) * 0.5 * (1 + std::cos(M_PI * t));
}

OneCycleLR::OneCycleLR(Optimizer& opt, double max_lr, int64_t total, double pct, double div, double final_div,
                       bool cycle_momentum, double base_momentum, double max_momentum)
    : LRScheduler(opt), max_lr_(max_lr), initial_(max_lr / div), min_(max_lr / div / final_div), total_(total), pct_(pct),
      cycle_momentum_(cycle_momentum), base_momentum_(base_momentum), max_momentum_(max_momentum) {
  ANNEAL_CHECK(total > 1, ValueError, "OneCycleLR: total_steps must be greater than 1, got ", total);
  ANNEAL_CHECK(pct > 0 && pct < 1, ValueError, "OneCycleLR: pct_start must be in (0, 1), got ", pct);
  if (cycle_momentum) {
    for (auto& g : opt_.param_groups())
      ANNEAL_CHECK(g.options.count("momentum") || g.options.count("beta1"), ValueError,
                   "OneCycleLR: cycle_momentum needs an optimizer with momentum or beta1 (", opt_.name(), " has neither)");
  }
  apply();
}
// Cosine from start_up to end_up over the first pct of the steps, then to end_down.
double OneCycleLR::phase(int64_t s, double start_up, double end_up, double end_down) const {
  ANNEAL_CHECK(s < total_ + 1, ValueError, "OneCycleLR: tried to step ", s, " times, more than total_steps (", total_, ")");
  const double up_end = pct_ * double(total_) - 1, down_end = double(total_) - 1;
  auto cos_anneal = [](double start, double end, double p) { return end + (start - end) / 2 * (std::cos(M_PI * p) + 1); };
  if (double(s) <= up_end) return cos_anneal(start_up, end_up, double(s) / up_end);
  return cos_anneal(end_up, end_down, (double(s) - up_end) / (down_end - up_end));
}
double OneCycleLR::lr_at(int64_t s, double) const { return phase(s, initial_, max_lr_, min_); }
void OneCycleLR::apply() {
  LRScheduler::apply();
  if (!cycle_momentum_) return;
  const double m = phase(step_, max_momentum_, base_momentum_, max_momentum_);
  for (auto& g : opt_.param_groups()) g.options[g.options.count("beta1") ? "beta1" : "momentum"] = m;
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& opt, Mode mode, double factor, int64_t patience, double threshold,
                                     int64_t cooldown, double min_lr)
    : opt_(opt), mode_(mode), factor_(factor), threshold_(threshold), min_lr_(min_lr), patience_(patience),
      cooldown_(cooldown), best_(mode == Mode::Min ? std::numeric_limits<double>::infinity()
                                                   : -std::numeric_limits<double>::infinity()) {
  ANNEAL_CHECK(factor < 1, ValueError, "ReduceLROnPlateau: factor should be < 1.0, got ", factor);
}
std::map<std::string, double> ReduceLROnPlateau::state_dict() const {
  return {{"best", best_}, {"bad_steps", double(bad_)}, {"cooldown_left", double(cooldown_left_)}};
}
void ReduceLROnPlateau::check_state_dict(const std::map<std::string, double>& s) const {
  for (const char* k : {"best", "bad_steps", "cooldown_left"})
    ANNEAL_CHECK(s.count(k), ValueError, "ReduceLROnPlateau state: '", k, "' is missing");
  ANNEAL_CHECK(!std::isnan(s.at("best")), ValueError, "ReduceLROnPlateau state: 'best' is NaN");
  for (const char* k : {"bad_steps", "cooldown_left"})
    ANNEAL_CHECK(is_count(s.at(k)), ValueError, "ReduceLROnPlateau state: '", k,
                 "' must be a non-negative whole number, got ", s.at(k));
}

void ReduceLROnPlateau::load_state_dict(const std::map<std::string, double>& s) {
  check_state_dict(s);
  best_ = s.at("best");
  bad_ = int64_t(s.at("bad_steps"));
  cooldown_left_ = int64_t(s.at("cooldown_left"));
}

void ReduceLROnPlateau::step(double metric) {
  // relative threshold, as PyTorch's default threshold_mode='rel'
  bool better = mode_ == Mode::Min ? metric < best_ * (1 - threshold_) : metric > best_ * (1 + threshold_);
  if (better) {
    best_ = metric;
    bad_ = 0;
  } else {
    ++bad_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_ = 0;
  }
  if (bad_ > patience_) {
    for (auto& g : opt_.param_groups()) {
      double old_lr = g.get("lr"), new_lr = std::max(old_lr * factor_, min_lr_);
      if (old_lr - new_lr > 1e-8) g.options["lr"] = new_lr;
    }
    cooldown_left_ = cooldown_;
    bad_ = 0;
  }
}

double clip_grad_norm_(const TensorList& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  NoGradGuard ng;
  TensorList grads;
  for (auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  double total;
  if (std::isinf(norm_type)) {
    total = 0;
    for (auto& g : grads) total = std::max(total, amax(abs(g)).to(DType::Float64).item<double>());
  } else {
    double acc = 0;
    for (auto& g : grads) acc += sum(pow(abs(g.to(DType::Float64)), norm_type)).item<double>();
    total = std::pow(acc, 1.0 / norm_type);
  }
  ANNEAL_CHECK(!(error_if_nonfinite && !std::isfinite(total)), ValueError, "clip_grad_norm_: the total norm of order ",
               norm_type, " for gradients from `parameters` is non-finite (", total,
               "), so it cannot be clipped; the gradients were left as they are");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1)
    for (auto& g : grads) {
      Tensor gg = g;
      gg.mul_(coef);
    }
  return total;
}

void clip_grad_value_(const TensorList& params, double clip) {
  ANNEAL_CHECK(clip >= 0, ValueError, "clip_grad_value_: clip_value must be non-negative, got ", clip);
  NoGradGuard ng;
  for (auto& p : params)
    if (p.grad().defined()) {
      Tensor g = p.grad();
      g.clamp_(-clip, clip);
    }
}

}  // namespace anneal::optim
