#include "optim/optimizer.h"

#include <cmath>
#include <set>
#include <type_traits>

#include "core/autograd/engine.h"
#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "runtime/cuda_graph.h"
#include "ops/ops.h"
#include "ops/optim_steps.h"

namespace anneal::optim {

double ParamGroup::get(const std::string& key) const {
  auto it = options.find(key);
  ANNEAL_CHECK(it != options.end(), ValueError, "optimizer parameter group has no option '", key, "'");
  return it->second;
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, Options defaults) : defaults_(std::move(defaults)) {
  ANNEAL_CHECK(!groups.empty(), ValueError, "optimizer got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  std::set<const void*> seen;
  for (auto& g : groups_)
    for (auto& p : g.params) seen.insert(p.impl());
  for (auto& p : group.params) {
    ANNEAL_CHECK(p.defined(), ValueError, "optimizer: parameter is undefined");
    ANNEAL_CHECK(p.is_leaf(), ValueError, "optimizer: can't optimize a non-leaf Tensor");
    ANNEAL_CHECK(is_floating(p.dtype()), TypeError, "optimizer: parameters must be floating point, got ",
                 dtype_name(p.dtype()));
    ANNEAL_CHECK(seen.insert(p.impl()).second, ValueError, "optimizer: some parameters appear in more than one parameter group");
  }
  for (auto& [k, v] : defaults_) group.options.emplace(k, v);  // keeps the group's own values
  for (auto& [k, v] : group.options)
    ANNEAL_CHECK(defaults_.count(k), ValueError, "optimizer: unknown option '", k, "' in a parameter group");
  check_options(group.options);
  groups_.push_back(std::move(group));
}

// (runs inside the base constructor too, where name() cannot be called yet)
void Optimizer::check_options(const Options& o) const {
  for (auto& [k, v] : o)
    ANNEAL_CHECK(std::isfinite(v), ValueError, "optimizer: option '", k, "' must be a finite number, got ", v);
  auto lr = o.find("lr");
  ANNEAL_CHECK(lr != o.end() && lr->second >= 0, ValueError, "optimizer: invalid learning rate ",
               lr == o.end() ? std::string("(missing)") : str(lr->second));
}

static double option(const Options& o, const char* key) {
  auto it = o.find(key);
  ANNEAL_CHECK(it != o.end(), ValueError, "optimizer parameter group has no option '", key, "'");
  return it->second;
}

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& g : groups_) autograd::zero_grads(g.params, set_to_none);
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState s;
  int64_t index = 0;
  for (auto& g : groups_) {
    s.groups.push_back(g.options);
    for (auto& p : g.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end()) {
        auto& dst = s.state[index];
        for (auto& [k, t] : it->second) dst[k] = t.detach().clone();
      }
      ++index;
    }
  }
  return s;
}

void Optimizer::check_state_dict(const OptimizerState& s) const {
  ANNEAL_CHECK(s.groups.size() == groups_.size(), ValueError, name(), ": loaded state dict has ", s.groups.size(),
               " parameter groups, the optimizer has ", groups_.size());
  TensorList params;
  std::vector<Options> merged;  // each parameter's group options as they will be after loading
  std::vector<size_t> group_of;
  for (size_t i = 0; i < groups_.size(); ++i) {
    Options o = groups_[i].options;
    for (auto& [k, v] : s.groups[i]) {
      ANNEAL_CHECK(defaults_.count(k), ValueError, name(), ": loaded parameter group ", i, " has unknown option '", k,
                   "'");
      o[k] = v;
    }
    check_options(o);
    merged.push_back(std::move(o));
    for (auto& p : groups_[i].params) params.push_back(p), group_of.push_back(i);
  }
  for (auto& [idx, st] : s.state) {
    ANNEAL_CHECK(idx >= 0 && idx < int64_t(params.size()), ValueError, name(),
                 ": loaded optimizer state names parameter ", idx, " but the optimizer has ", params.size());
    const Tensor& p = params[size_t(idx)];
    for (const std::string& k : required_state(merged[group_of[size_t(idx)]]))
      ANNEAL_CHECK(st.count(k), ValueError, name(), ": loaded state of parameter ", idx, " lacks '", k,
                   "' (it has ", st.size(), " entries); the checkpoint is incomplete or from other settings");
    for (auto& [k, t] : st) {
      ANNEAL_CHECK(t.defined() && is_floating(t.dtype()), ValueError, name(), ": loaded optimizer state '", k,
                   "' of parameter ", idx, " must be a floating tensor");
      if (k == "step") {
        ANNEAL_CHECK(t.dim() == 0, ValueError, name(), ": loaded step count of parameter ", idx,
                     " must be a 0-dim tensor, got shape ", t.shape_str());
        const double v = t.item<double>();
        ANNEAL_CHECK(std::isfinite(v) && v >= 0 && v == std::floor(v), ValueError, name(),
                     ": loaded step count of parameter ", idx, " must be a non-negative whole number, got ", v);
        continue;
      }
      ANNEAL_CHECK(t.sizes() == p.sizes(), ValueError, name(), ": loaded optimizer state '", k, "' of parameter ", idx,
                   " has shape ", t.shape_str(), ", the parameter has ", p.shape_str());
    }
  }
}

void Optimizer::load_state_dict(const OptimizerState& s) {
  check_state_dict(s);  // everything first, so a bad state leaves the optimizer as it was
  TensorList params;
  for (auto& g : groups_) params.insert(params.end(), g.params.begin(), g.params.end());
  for (size_t i = 0; i < groups_.size(); ++i)
    for (auto& [k, v] : s.groups[i]) groups_[i].options[k] = v;
  for (auto& [idx, st] : s.state) {
    const Tensor& p = params[size_t(idx)];
    auto& dst = state_[p.impl()];
    dst.clear();
    for (auto& [k, t] : st) dst[k] = t.dim() == 0 ? t.clone() : t.to(p.device()).to(p.dtype()).clone();
  }
}

// ---- SGD ----

static Options sgd_defaults(double lr, double momentum, double dampening, double wd, bool nesterov, bool maximize) {
  return {{"lr", lr},           {"momentum", momentum}, {"dampening", dampening},
          {"weight_decay", wd}, {"nesterov", nesterov}, {"maximize", maximize}};
}

SGD::SGD(TensorList params, double lr, double momentum, double dampening, double wd, bool nesterov, bool maximize)
    : SGD(std::vector<ParamGroup>{{std::move(params), {}}}, sgd_defaults(lr, momentum, dampening, wd, nesterov, maximize)) {}

SGD::SGD(std::vector<ParamGroup> groups, Options defaults) : Optimizer(std::move(groups), [&] {
      Options d = sgd_defaults(1e-3, 0, 0, 0, false, false);
      for (auto& [k, v] : defaults) d[k] = v;
      return d;
    }()) {
  for (auto& g : groups_) check_options(g.options);
}

void SGD::check_options(const Options& o) const {
  Optimizer::check_options(o);
  ANNEAL_CHECK(option(o, "momentum") >= 0, ValueError, "SGD: invalid momentum value ", option(o, "momentum"));
  ANNEAL_CHECK(option(o, "weight_decay") >= 0, ValueError, "SGD: invalid weight_decay value ",
               option(o, "weight_decay"));
  ANNEAL_CHECK(!(option(o, "nesterov") != 0 && (option(o, "momentum") <= 0 || option(o, "dampening") != 0)),
               ValueError, "SGD: Nesterov momentum requires a momentum and zero dampening");
}

std::vector<std::string> SGD::required_state(const Options& o) const {
  if (option(o, "momentum") != 0) return {"momentum_buffer"};
  return {};
}

// State made inside a CUDA graph capture would be made afresh on every replay (a new
// momentum buffer, step count 1): the step must have run eagerly before capturing.
static void check_state_before_capture(const Tensor& p, bool state_exists, const std::string& optimizer) {
  if (state_exists || !p.device().is_cuda() || !cuda_is_capturing(p.device().index)) return;
  throw ValueError(optimizer + ": no optimizer state yet inside a CUDA graph capture; run step() eagerly a few "
                   "times before capturing it");
}

void SGD::step() {
  NoGradGuard ng;
  for (auto& g : groups_) {
    const double lr = g.get("lr"), momentum = g.get("momentum"), dampening = g.get("dampening"),
                 wd = g.get("weight_decay");
    const bool nesterov = g.get("nesterov") != 0, maximize = g.get("maximize") != 0;
    for (auto& p : g.params) {
      if (!p.grad().defined()) continue;
      if (!maximize && fused_step_applies(p, {&p.grad()})) {
        Tensor buf;
        bool first = false;
        if (momentum != 0) {
          auto& st = state_[p.impl()];
          auto it = st.find("momentum_buffer");
          first = it == st.end();
          check_state_before_capture(p, !first, name());
          buf = first ? (st["momentum_buffer"] = empty_like(p)) : it->second;
        }
        // (a new buffer always qualifies; a loaded non-contiguous one takes the composite path)
        if (!buf.defined() || fused_step_applies(p, {&buf})) {
          sgd_step_(p, p.grad(), buf, lr, momentum, dampening, wd, nesterov, first);
          continue;
        }
      }
      Tensor d = maximize ? -p.grad() : p.grad();
      if (wd != 0) d = d + p * wd;
      if (momentum != 0) {
        auto& st = state_[p.impl()];
        auto it = st.find("momentum_buffer");
        check_state_before_capture(p, it != st.end(), name());
        if (it == st.end()) {
          st["momentum_buffer"] = d.clone();
        } else {
          it->second.mul_(momentum).add_(d, 1 - dampening);
        }
        const Tensor& buf = st["momentum_buffer"];
        d = nesterov ? d + buf * momentum : buf;
      }
      p.add_(d, -lr);
    }
  }
}

// ---- Adam / AdamW ----

static Options adam_defaults(double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool capturable) {
  return {{"lr", lr},           {"beta1", b1},        {"beta2", b2},           {"eps", eps},
          {"weight_decay", wd}, {"amsgrad", amsgrad}, {"capturable", capturable}};
}

Adam::Adam(TensorList params, double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool capturable)
    : Adam(std::vector<ParamGroup>{{std::move(params), {}}}, adam_defaults(lr, b1, b2, eps, wd, amsgrad, capturable)) {}

Adam::Adam(std::vector<ParamGroup> groups, Options defaults, bool decoupled)
    : Optimizer(std::move(groups), [&] {
        Options d = adam_defaults(1e-3, 0.9, 0.999, 1e-8, 0, false, false);
        for (auto& [k, v] : defaults) d[k] = v;
        return d;
      }()),
      decoupled_(decoupled) {
  for (auto& g : groups_) check_options(g.options);
}

void Adam::check_options(const Options& o) const {
  Optimizer::check_options(o);
  const double b1 = option(o, "beta1"), b2 = option(o, "beta2");
  ANNEAL_CHECK(b1 >= 0 && b1 < 1, ValueError, name(), ": invalid beta parameter at index 0: ", b1);
  ANNEAL_CHECK(b2 >= 0 && b2 < 1, ValueError, name(), ": invalid beta parameter at index 1: ", b2);
  ANNEAL_CHECK(option(o, "eps") >= 0, ValueError, name(), ": invalid epsilon value ", option(o, "eps"));
  ANNEAL_CHECK(option(o, "weight_decay") >= 0, ValueError, name(), ": invalid weight_decay value ",
               option(o, "weight_decay"));
}

std::vector<std::string> Adam::required_state(const Options& o) const {
  std::vector<std::string> keys{"step", "exp_avg", "exp_avg_sq"};
  if (option(o, "amsgrad") != 0) keys.push_back("max_exp_avg_sq");
  return keys;
}

namespace {

// Adam's update from tensor ops, for what the fused kernels do not take. The bias
// corrections are host numbers (double) or, for capturable Adam, 0-dim device tensors.
template <typename Correction>
void adam_composite(Tensor p, const Tensor& grad, Tensor m, Tensor v, Tensor max_v, double b1, double b2, double eps,
                    const Correction& step_size, const Correction& bc2_sqrt) {
  m.mul_(b1).add_(grad, 1 - b1);
  v.mul_(b2).add_(grad * grad, 1 - b2);
  Tensor denom_src = v;
  if (max_v.defined()) {
    max_v.copy_(maximum(max_v, v));
    denom_src = max_v;
  }
  const Tensor denom = sqrt(denom_src) / bc2_sqrt + eps;
  if constexpr (std::is_same_v<Correction, double>) p.add_(m / denom, -step_size);
  else p.sub_(m / denom * step_size);
}

// Whether a parameter's device stream is being captured into a CUDA graph, asked of the
// runtime once per device per step rather than once per parameter.
class CaptureProbe {
 public:
  bool operator()(const Tensor& p) {
    if (!p.device().is_cuda()) return false;
    auto [it, fresh] = seen_.try_emplace(p.device().index, false);
    if (fresh) it->second = cuda_is_capturing(p.device().index);
    return it->second;
  }

 private:
  std::map<int, bool> seen_;
};

}  // namespace

void Adam::step() {
  NoGradGuard ng;
  CaptureProbe capturing;
  for (auto& g : groups_) {
    const double lr = g.get("lr"), b1 = g.get("beta1"), b2 = g.get("beta2"), eps = g.get("eps"),
                 wd = g.get("weight_decay");
    const bool amsgrad = g.get("amsgrad") != 0;
    const bool capturable = g.options.count("capturable") && g.get("capturable") != 0;
    for (auto& p : g.params) {
      if (!p.grad().defined()) continue;
      Tensor grad = p.grad();
      auto& st = state_[p.impl()];
      check_state_before_capture(p, !st.empty(), name());
      if (st.empty()) {
        st["step"] = zeros({}, TensorOptions(DType::Float64, capturable ? p.device() : kCPU));
        st["exp_avg"] = zeros_like(p);
        st["exp_avg_sq"] = zeros_like(p);
        if (amsgrad) st["max_exp_avg_sq"] = zeros_like(p);
      }
      if (wd != 0) {
        if (decoupled_) p.mul_(1 - lr * wd);
        else grad = grad + p * wd;
      }
      const Tensor& m = st["exp_avg"];
      const Tensor& v = st["exp_avg_sq"];
      const Tensor max_v = amsgrad ? st["max_exp_avg_sq"] : Tensor();
      if (capturable) {
        step_on_device(p, grad, st["step"], m, v, max_v, lr, b1, b2, eps);
        continue;
      }
      ANNEAL_CHECK(!capturing(p), ValueError, name(),
                   ": inside a CUDA graph capture the step count must live on the device; make the optimizer with "
                   "capturable = true");
      st["step"].add_(1.0);
      const double t = st["step"].item<double>();
      const double step_size = lr / (1 - std::pow(b1, t)), bc2_sqrt = std::sqrt(1 - std::pow(b2, t));
      if (fused_step_applies(p, {&grad, &m, &v}) && (!amsgrad || fused_step_applies(p, {&max_v}))) {
        adam_step_(p, grad, m, v, max_v, b1, b2, eps, step_size, bc2_sqrt);
        continue;
      }
      adam_composite(p, grad, m, v, max_v, b1, b2, eps, step_size, bc2_sqrt);
    }
  }
}

// The same update with the step count and bias corrections on the device: no host number
// depends on the step, so a captured CUDA graph replays it correctly.
void Adam::step_on_device(const Tensor& p, const Tensor& grad, Tensor& t, const Tensor& m, const Tensor& v,
                          const Tensor& max_v, double lr, double b1, double b2, double eps) {
  if (t.device() != p.device()) t = t.to(p.device());  // e.g. loaded from a checkpoint
  t.add_(1.0);
  if (adam_step_device_step_(p, grad, m, v, max_v, t, lr, b1, b2, eps)) return;  // one fused kernel
  // b^t = exp(t·ln b); b = 0 gives exp(-inf) = 0, as pow does
  const Tensor step_size = (reciprocal(neg(exp(t * std::log(b1))) + 1.0) * lr).to(p.dtype());
  const Tensor bc2_sqrt = sqrt(neg(exp(t * std::log(b2))) + 1.0).to(p.dtype());
  adam_composite(p, grad, m, v, max_v, b1, b2, eps, step_size, bc2_sqrt);
}

AdamW::AdamW(TensorList params, double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool capturable)
    : Adam(std::vector<ParamGroup>{{std::move(params), {}}}, adam_defaults(lr, b1, b2, eps, wd, amsgrad, capturable),
           true) {}

// ---- RMSprop ----

RMSprop::RMSprop(TensorList params, double lr, double alpha, double eps, double wd, double momentum, bool centered)
    : Optimizer(std::vector<ParamGroup>{{std::move(params), {}}},
                {{"lr", lr}, {"alpha", alpha}, {"eps", eps}, {"weight_decay", wd}, {"momentum", momentum},
                 {"centered", centered}}) {
  for (auto& g : groups_) check_options(g.options);
}

void RMSprop::check_options(const Options& o) const {
  Optimizer::check_options(o);
  for (const char* k : {"alpha", "eps", "weight_decay", "momentum"})
    ANNEAL_CHECK(option(o, k) >= 0, ValueError, "RMSprop: invalid ", k, " value ", option(o, k));
}

std::vector<std::string> RMSprop::required_state(const Options& o) const {
  std::vector<std::string> keys{"square_avg"};
  if (option(o, "momentum") > 0) keys.push_back("momentum_buffer");
  if (option(o, "centered") != 0) keys.push_back("grad_avg");
  return keys;
}

void RMSprop::step() {
  NoGradGuard ng;
  for (auto& g : groups_) {
    const double lr = g.get("lr"), alpha = g.get("alpha"), eps = g.get("eps"), wd = g.get("weight_decay"),
                 momentum = g.get("momentum");
    const bool centered = g.get("centered") != 0;
    for (auto& p : g.params) {
      if (!p.grad().defined()) continue;
      Tensor grad = wd != 0 ? p.grad() + p * wd : p.grad();
      auto& st = state_[p.impl()];
      if (st.empty()) {
        st["square_avg"] = zeros_like(p);
        if (momentum > 0) st["momentum_buffer"] = zeros_like(p);
        if (centered) st["grad_avg"] = zeros_like(p);
      }
      Tensor& sq = st["square_avg"];
      sq.mul_(alpha).add_(grad * grad, 1 - alpha);
      Tensor avg;
      if (centered) {
        Tensor& ga = st["grad_avg"];
        ga.mul_(alpha).add_(grad, 1 - alpha);
        avg = sqrt(sq - ga * ga) + eps;
      } else {
        avg = sqrt(sq) + eps;
      }
      if (momentum > 0) {
        Tensor& buf = st["momentum_buffer"];
        buf.mul_(momentum).add_(grad / avg);
        p.add_(buf, -lr);
      } else {
        p.add_(grad / avg, -lr);
      }
    }
  }
}

// ---- Adagrad ----

Adagrad::Adagrad(TensorList params, double lr, double lr_decay, double wd, double init_acc, double eps)
    : Optimizer(std::vector<ParamGroup>{{std::move(params), {}}},
                {{"lr", lr}, {"lr_decay", lr_decay}, {"weight_decay", wd}, {"initial_accumulator_value", init_acc},
                 {"eps", eps}}) {
  for (auto& g : groups_) check_options(g.options);
}

void Adagrad::check_options(const Options& o) const {
  Optimizer::check_options(o);
  for (const char* k : {"lr_decay", "weight_decay", "initial_accumulator_value", "eps"})
    ANNEAL_CHECK(option(o, k) >= 0, ValueError, "Adagrad: invalid ", k, " value ", option(o, k));
}

std::vector<std::string> Adagrad::required_state(const Options&) const { return {"step", "sum"}; }

void Adagrad::step() {
  NoGradGuard ng;
  for (auto& g : groups_) {
    const double lr = g.get("lr"), lr_decay = g.get("lr_decay"), wd = g.get("weight_decay"), eps = g.get("eps");
    for (auto& p : g.params) {
      if (!p.grad().defined()) continue;
      auto& st = state_[p.impl()];
      if (st.empty()) {
        st["step"] = zeros({}, DType::Float64);
        st["sum"] = full_like(p, g.get("initial_accumulator_value"));
      }
      st["step"].add_(1.0);
      const double t = st["step"].item<double>();
      Tensor grad = wd != 0 ? p.grad() + p * wd : p.grad();
      const double clr = lr / (1 + (t - 1) * lr_decay);
      Tensor& s = st["sum"];
      s.add_(grad * grad);
      p.add_(grad / (sqrt(s) + eps), -clr);
    }
  }
}

}  // namespace anneal::optim
