#include "optim/grad_scaler.h"

#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "ops/ops.h"

namespace anneal::optim {

GradScaler::GradScaler(GradScalerOptions options) : opt_(options), scale_(options.init_scale) {
  ANNEAL_CHECK(options.init_scale > 0, ValueError, "GradScaler: init_scale must be positive, got ", options.init_scale);
  ANNEAL_CHECK(options.growth_factor > 1, ValueError, "GradScaler: growth_factor must be > 1, got ",
               options.growth_factor);
  ANNEAL_CHECK(options.backoff_factor > 0 && options.backoff_factor < 1, ValueError,
               "GradScaler: backoff_factor must be in (0, 1), got ", options.backoff_factor);
  ANNEAL_CHECK(options.growth_interval > 0, ValueError, "GradScaler: growth_interval must be positive, got ",
               options.growth_interval);
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!opt_.enabled) return loss;
  return loss * scale_;
}

void GradScaler::unscale_(Optimizer& opt) {
  if (!opt_.enabled) return;
  ANNEAL_CHECK(!unscaled_, Error, "GradScaler: unscale_() was already called since the last update()");
  NoGradGuard ng;
  const double inv = 1.0 / scale_;
  Tensor bad;  // one flag per device kept on the device; read back once, not per parameter
  for (auto& group : opt.param_groups()) {
    for (Tensor& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      g.mul_(inv);
      Tensor b = any(isnan(g * 0.0));  // g·0 is NaN exactly where g is inf or NaN
      if (bad.defined() && bad.device() != b.device()) b = b.to(bad.device());
      bad = bad.defined() ? logical_or(bad, b) : b;
    }
  }
  found_inf_ = bad.defined() && bad.item<bool>();
  unscaled_ = true;
}

bool GradScaler::step(Optimizer& opt) {
  if (!opt_.enabled) {
    opt.step();
    return true;
  }
  ANNEAL_CHECK(!stepped_, Error, "GradScaler: step() was already called since the last update()");
  if (!unscaled_) unscale_(opt);
  stepped_ = true;
  if (found_inf_) return false;
  opt.step();
  return true;
}

void GradScaler::update() {
  if (!opt_.enabled) return;
  if (found_inf_) {
    scale_ *= opt_.backoff_factor;
    growth_tracker_ = 0;
  } else if (++growth_tracker_ == opt_.growth_interval) {
    scale_ *= opt_.growth_factor;
    growth_tracker_ = 0;
  }
  unscaled_ = stepped_ = found_inf_ = false;
}

std::map<std::string, double> GradScaler::state_dict() const {
  return {{"scale", scale_}, {"growth_tracker", double(growth_tracker_)}, {"growth_factor", opt_.growth_factor},
          {"backoff_factor", opt_.backoff_factor}, {"growth_interval", double(opt_.growth_interval)}};
}

void GradScaler::load_state_dict(const std::map<std::string, double>& state) {
  auto get = [&](const char* k) {
    auto it = state.find(k);
    ANNEAL_CHECK(it != state.end(), ValueError, "GradScaler.load_state_dict: missing key '", k, "'");
    return it->second;
  };
  const double s = get("scale"), tracker = get("growth_tracker"), growth = get("growth_factor"),
               backoff = get("backoff_factor"), interval = get("growth_interval");
  // everything checked before anything changes
  ANNEAL_CHECK(std::isfinite(s) && s > 0, ValueError, "GradScaler.load_state_dict: scale must be positive and finite, got ", s);
  ANNEAL_CHECK(std::isfinite(tracker) && tracker >= 0 && tracker == std::floor(tracker), ValueError,
               "GradScaler.load_state_dict: growth_tracker must be a non-negative whole number, got ", tracker);
  ANNEAL_CHECK(std::isfinite(growth) && growth > 1, ValueError,
               "GradScaler.load_state_dict: growth_factor must be finite and above 1, got ", growth);
  ANNEAL_CHECK(backoff > 0 && backoff < 1, ValueError, "GradScaler.load_state_dict: backoff_factor must be in (0, 1), got ",
               backoff);
  ANNEAL_CHECK(interval >= 1 && interval < 0x1p53 && interval == std::floor(interval), ValueError,
               "GradScaler.load_state_dict: growth_interval must be a positive whole number, got ", interval);
  scale_ = s;
  growth_tracker_ = int64_t(get("growth_tracker"));
  opt_.growth_factor = get("growth_factor");
  opt_.backoff_factor = get("backoff_factor");
  opt_.growth_interval = int64_t(get("growth_interval"));
}

}  // namespace anneal::optim
