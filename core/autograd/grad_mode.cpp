#include "core/autograd/grad_mode.h"

namespace anneal {
namespace {
thread_local bool t_grad_enabled = true;
thread_local bool t_inference = false;
}  // namespace
bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool e) { t_grad_enabled = e; }
bool InferenceMode::is_enabled() { return t_inference; }
void InferenceMode::set_enabled(bool e) { t_inference = e; }
}  // namespace anneal
