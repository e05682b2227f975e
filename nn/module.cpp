#include "nn/module.h"

#include <set>
#include <sstream>

#include "core/autograd/engine.h"
#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "ops/ops.h"

namespace anneal::nn {

Tensor Module::forward(const Tensor&) {
  throw NotImplementedError(str(type_name(), ": forward(Tensor) is not defined for this module"));
}

Tensor Module::operator()(const Tensor& x) {
  Tensor in = x;
  for (auto& h : pre_hooks_)
    if (auto r = h(*this, in)) in = *r;
  Tensor out = forward(in);
  for (auto& h : post_hooks_)
    if (auto r = h(*this, in, out)) out = *r;
  return out;
}

static void check_name(const std::string& kind, const std::string& name) {
  ANNEAL_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError, kind, " name '", name,
               "' must be non-empty and contain no '.'");
}

Tensor& Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_name("parameter", name);
  for (auto& [n, t] : params_) ANNEAL_CHECK(n != name, ValueError, "parameter '", name, "' already exists");
  if (value.defined() && requires_grad) value.set_requires_grad(true);
  params_.emplace_back(name, value);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  check_name("buffer", name);
  for (auto& [n, t] : buffers_) ANNEAL_CHECK(n != name, ValueError, "buffer '", name, "' already exists");
  buffers_.emplace_back(name, value);
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_name("module", name);
  ANNEAL_CHECK(m != nullptr, ValueError, "module '", name, "' is null");
  for (auto& [n, c] : children_) ANNEAL_CHECK(n != name, ValueError, "submodule '", name, "' already exists");
  children_.emplace_back(name, std::move(m));
}

Tensor& Module::set_parameter(const std::string& name, Tensor value, bool requires_grad) {
  for (auto& [n, t] : params_) {
    if (n != name) continue;
    if (value.defined() && requires_grad) value.set_requires_grad(true);
    t = std::move(value);
    return t;
  }
  return register_parameter(name, std::move(value), requires_grad);
}

Tensor& Module::set_buffer(const std::string& name, Tensor value) {
  for (auto& [n, t] : buffers_) {
    if (n != name) continue;
    t = std::move(value);
    return t;
  }
  return register_buffer(name, std::move(value));
}

void Module::set_child(const std::string& name, std::shared_ptr<Module> m) {
  ANNEAL_CHECK(m != nullptr, ValueError, "module '", name, "' is null");
  for (auto& [n, c] : children_) {
    if (n != name) continue;
    c = std::move(m);
    return;
  }
  add_child(name, std::move(m));
}

void Module::remove_parameter(const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) t = Tensor();
}
void Module::remove_buffer(const std::string& name) {
  for (auto& [n, t] : buffers_)
    if (n == name) t = Tensor();
}
void Module::remove_child(const std::string& name) {
  std::erase_if(children_, [&](const auto& kv) { return kv.first == name; });
}

Tensor& Module::param(const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) return t;
  throw ValueError(str(type_name(), " has no parameter '", name, "'"));
}
Tensor& Module::buffer(const std::string& name) {
  for (auto& [n, t] : buffers_)
    if (n == name) return t;
  throw ValueError(str(type_name(), " has no buffer '", name, "'"));
}

void Module::collect(const std::string& prefix, bool params, bool recurse, StateDict& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, true, out);
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  collect("", true, recurse, out);
  // a parameter shared by two submodules is listed once, under its first name
  std::set<const TensorImpl*> seen;
  StateDict unique;
  for (auto& kv : out)
    if (seen.insert(kv.second.impl()).second) unique.push_back(kv);
  return unique;
}
TensorList Module::parameters(bool recurse) const {
  TensorList out;
  for (auto& kv : named_parameters(recurse)) out.push_back(kv.second);
  return out;
}
StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect("", false, recurse, out);
  return out;
}
TensorList Module::buffers(bool recurse) const {
  TensorList out;
  for (auto& kv : named_buffers(recurse)) out.push_back(kv.second);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  out.emplace_back("", shared_from_this());
  std::function<void(const std::string&, Module&)> walk = [&](const std::string& prefix, Module& m) {
    for (auto& [n, c] : m.children_) {
      std::string name = prefix.empty() ? n : prefix + "." + n;
      out.emplace_back(name, c);
      walk(name, *c);
    }
  };
  walk("", *this);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& t : parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::for_each_tensor(const std::function<void(Tensor&)>& fn) {
  for (auto& [n, t] : params_)
    if (t.defined()) fn(t);
  for (auto& [n, t] : buffers_)
    if (t.defined()) fn(t);
  for (auto& [n, c] : children_) c->for_each_tensor(fn);
}

// Gives `t` the data of `v` while keeping its identity (the TensorImpl others hold);
// a gradient of the old dtype/device no longer fits and is dropped.
static void replace_data(Tensor& t, const Tensor& v) {
  t.impl()->set_data(*v.impl());
  if (t.grad().defined()) t.set_grad(Tensor());
}

void Module::to(Device device) {
  NoGradGuard ng;
  for_each_tensor([&](Tensor& t) {
    if (t.device() != device) replace_data(t, t.to(device));
  });
}
void Module::to(DType dtype) {
  NoGradGuard ng;
  ANNEAL_CHECK(is_floating(dtype), TypeError, "Module.to: expected a floating dtype, got ", dtype_name(dtype));
  for_each_tensor([&](Tensor& t) {
    if (is_floating(t.dtype()) && t.dtype() != dtype) replace_data(t, t.to(dtype));
  });
}

void Module::zero_grad(bool set_to_none) { autograd::zero_grads(parameters(), set_to_none); }

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
}

StateDict Module::state_dict() const {
  StateDict out;
  std::function<void(const std::string&, const Module&)> walk = [&](const std::string& prefix, const Module& m) {
    for (const auto& [n, t] : m.params_)
      if (t.defined()) out.emplace_back(prefix + n, t.detach());
    for (const auto& [n, t] : m.buffers_)
      if (t.defined()) out.emplace_back(prefix + n, t.detach());
    for (const auto& [n, c] : m.children_) walk(prefix + n + ".", *c);
  };
  walk("", *this);
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict own = state_dict();
  std::map<std::string, const Tensor*> given;
  for (auto& [k, v] : state) given[k] = &v;
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> own_keys;
  for (auto& [k, t] : own) {
    own_keys.insert(k);
    auto it = given.find(k);
    if (it == given.end()) {
      missing.push_back(k);
      continue;
    }
    if (it->second->sizes() != t.sizes())
      mismatched.push_back(str(k, ": checkpoint has shape ", it->second->shape_str(), ", the model has ",
                               t.shape_str()));
  }
  for (auto& [k, v] : state)
    if (!own_keys.count(k)) unexpected.push_back(k);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + ("\"" + x + "\"");
    return s;
  };
  std::string err;
  if (!mismatched.empty()) err += "size mismatch for " + join(mismatched) + ". ";
  if (strict && !missing.empty()) err += "Missing key(s) in state_dict: " + join(missing) + ". ";
  if (strict && !unexpected.empty()) err += "Unexpected key(s) in state_dict: " + join(unexpected) + ". ";
  ANNEAL_CHECK(err.empty(), ValueError, "Error(s) in loading state_dict for ", type_name(), ": ", err);
  NoGradGuard ng;
  for (auto& [k, t] : own) {
    auto it = given.find(k);
    if (it == given.end()) continue;
    Tensor dst = t;  // shares storage with the module's tensor
    dst.copy_(*it->second);
  }
}

void Module::print(std::ostream& os, int indent) const {
  os << type_name() << '(' << extra_repr();
  if (!children_.empty()) {
    os << '\n';
    for (auto& [n, c] : children_) {
      os << std::string(size_t(indent + 2), ' ') << '(' << n << "): ";
      c->print(os, indent + 2);
      os << '\n';
    }
    os << std::string(size_t(indent), ' ');
  }
  os << ')';
}

std::string Module::to_string() const {
  std::ostringstream os;
  print(os, 0);
  int64_t trainable = 0, total = 0;
  for (auto& t : parameters()) {
    total += t.numel();
    if (t.requires_grad()) trainable += t.numel();
  }
  os << "\nparameters: " << total << " (" << trainable << " trainable)";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.to_string(); }

}  // namespace anneal::nn
