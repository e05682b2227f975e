#pragma once
// Thread-local switches for autograd, in the manner of torch.no_grad.
namespace anneal {

struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};
struct InferenceMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(true); }
  ~EnableGradGuard() { GradMode::set_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

// No graph is recorded, and in-place writes skip version bookkeeping checks that only
// matter for saved tensors (inference-only code paths).
class InferenceModeGuard {
 public:
  InferenceModeGuard() : prev_grad_(GradMode::is_enabled()), prev_inf_(InferenceMode::is_enabled()) {
    GradMode::set_enabled(false);
    InferenceMode::set_enabled(true);
  }
  ~InferenceModeGuard() {
    GradMode::set_enabled(prev_grad_);
    InferenceMode::set_enabled(prev_inf_);
  }
  InferenceModeGuard(const InferenceModeGuard&) = delete;
  InferenceModeGuard& operator=(const InferenceModeGuard&) = delete;

 private:
  bool prev_grad_, prev_inf_;
};

}  // namespace anneal
