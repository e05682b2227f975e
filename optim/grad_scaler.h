#pragma once
// Loss scaling for float16 training, as torch.cuda.amp.GradScaler: the loss is multiplied
// by a large scale before backward so small gradients survive float16; step() unscales
// the gradients, skips the optimizer step when any is inf/NaN, and update() halves the
// scale after such a step or doubles it after `growth_interval` clean ones. The scale and
// the clean-step count are part of a checkpoint (state_dict).
#include <map>
#include <string>

#include "optim/optimizer.h"

namespace anneal::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;  // disabled: scale() and unscale_() do nothing, step() always steps
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});
  Tensor scale(const Tensor& loss) const;
  // Divides every gradient of the optimizer's parameters by the scale (once per step) and
  // notes whether any is inf or NaN; call it before clipping gradients.
  void unscale_(Optimizer& opt);
  // Unscales if not done yet and runs opt.step() unless a gradient was inf/NaN; returns
  // whether it stepped.
  bool step(Optimizer& opt);
  // Adjusts the scale from this step's outcome; call once per iteration after step().
  void update();
  double get_scale() const { return scale_; }
  bool found_inf() const { return found_inf_; }

  std::map<std::string, double> state_dict() const;
  void load_state_dict(const std::map<std::string, double>& state);

 private:
  GradScalerOptions opt_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false, found_inf_ = false, stepped_ = false;
};

}  // namespace anneal::optim
