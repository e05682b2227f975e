#include "core/tensor.h"

#include "core/autograd/engine.h"
#include "core/autograd/grad_math.h"
#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/error.h"
#include "core/tensor_impl.h"

namespace anneal {

#define ANNEAL_CHECK_DEFINED(what) \
  ANNEAL_CHECK(impl_ != nullptr, Error, what, ": called on an undefined tensor")

const Shape& Tensor::sizes() const {
  ANNEAL_CHECK_DEFINED("sizes");
  return impl_->sizes();
}
const Shape& Tensor::strides() const {
  ANNEAL_CHECK_DEFINED("strides");
  return impl_->strides();
}
int64_t Tensor::size(int64_t d) const {
  ANNEAL_CHECK(dim() > 0, IndexError, "size: dimension specified as ", d, " but tensor has no dimensions");
  return sizes()[size_t(wrap_dim(d, dim(), "size"))];
}
int64_t Tensor::stride(int64_t d) const {
  ANNEAL_CHECK(dim() > 0, IndexError, "stride: dimension specified as ", d, " but tensor has no dimensions");
  return strides()[size_t(wrap_dim(d, dim(), "stride"))];
}
int64_t Tensor::dim() const { return int64_t(sizes().size()); }
int64_t Tensor::numel() const {
  ANNEAL_CHECK_DEFINED("numel");
  return impl_->numel();
}
int64_t Tensor::storage_offset() const {
  ANNEAL_CHECK_DEFINED("storage_offset");
  return impl_->offset();
}
DType Tensor::dtype() const {
  ANNEAL_CHECK_DEFINED("dtype");
  return impl_->dtype();
}
Device Tensor::device() const {
  ANNEAL_CHECK_DEFINED("device");
  return impl_->device();
}
bool Tensor::is_contiguous() const {
  ANNEAL_CHECK_DEFINED("is_contiguous");
  return impl_->is_contiguous();
}
void* Tensor::data_ptr() const {
  ANNEAL_CHECK_DEFINED("data_ptr");
  return impl_->data();
}

template <typename T>
T* Tensor::data_ptr() const {
  ANNEAL_CHECK_DEFINED("data_ptr");
  ANNEAL_CHECK(dtype_of<T>::value == dtype(), TypeError, "data_ptr<", dtype_name(dtype_of<T>::value),
               ">: tensor has dtype ", dtype_name(dtype()));
  return static_cast<T*>(impl_->data());
}
template bool* Tensor::data_ptr<bool>() const;
template uint8_t* Tensor::data_ptr<uint8_t>() const;
template int32_t* Tensor::data_ptr<int32_t>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;
template Half* Tensor::data_ptr<Half>() const;
template BFloat16* Tensor::data_ptr<BFloat16>() const;
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;

Scalar Tensor::item() const {
  ANNEAL_CHECK_DEFINED("item");
  ANNEAL_CHECK(numel() == 1, ValueError, "item: a Tensor with ", numel(),
               " elements cannot be converted to Scalar");
  Tensor c = device().is_cpu() ? *this : cpu();
  return ANNEAL_DISPATCH_ALL(dtype(), "item", [&]() -> Scalar {
    return Scalar(*static_cast<const scalar_t*>(c.impl()->data()));
  });
}
template <typename T>
T Tensor::item() const {
  Scalar s = item();
  if constexpr (std::is_same_v<T, bool>) return s.to_bool();
  else if constexpr (std::is_integral_v<T>) return T(s.to_int());
  else return T(s.to_double());
}
template bool Tensor::item<bool>() const;
template int32_t Tensor::item<int32_t>() const;
template int64_t Tensor::item<int64_t>() const;
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;

std::string Tensor::shape_str() const { return shape_to_string(sizes()); }

// ---- autograd ----

bool Tensor::requires_grad() const {
  ANNEAL_CHECK_DEFINED("requires_grad");
  auto* m = impl_->autograd();
  return m && m->requires_grad;
}

Tensor& Tensor::set_requires_grad(bool r) {
  ANNEAL_CHECK_DEFINED("requires_grad_");
  if (!r && !requires_grad()) return *this;
  ANNEAL_CHECK(is_leaf(), AutogradError,
               "requires_grad_: you can only change requires_grad flags of leaf variables. If you want to use a "
               "computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
  ANNEAL_CHECK(!r || is_floating(dtype()), AutogradError,
               "requires_grad_: only Tensors of floating point dtype can require gradients, got ", dtype_name(dtype()));
  impl_->ensure_autograd().requires_grad = r;
  return *this;
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  auto* m = impl_ ? impl_->autograd() : nullptr;
  return m ? m->grad : undefined;
}
Tensor& Tensor::mutable_grad() { return impl_->ensure_autograd().grad; }
void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    ANNEAL_CHECK(g.sizes() == sizes(), ValueError, "set_grad: assigned grad has shape ", g.shape_str(),
                 " but the tensor has shape ", shape_str());
    ANNEAL_CHECK(g.dtype() == dtype(), TypeError, "set_grad: assigned grad has dtype ", dtype_name(g.dtype()),
                 " but the tensor has dtype ", dtype_name(dtype()));
    ANNEAL_CHECK(g.device() == device(), DeviceError, "set_grad: assigned grad is on ", g.device().str(),
                 " but the tensor is on ", device().str());
  }
  impl_->ensure_autograd().grad = g;
}

std::shared_ptr<Node> Tensor::grad_fn() const {
  auto* m = impl_ ? impl_->autograd() : nullptr;
  return m ? m->grad_fn : nullptr;
}
uint32_t Tensor::output_nr() const {
  auto* m = impl_->autograd();
  return m ? m->output_nr : 0;
}
bool Tensor::is_leaf() const { return grad_fn() == nullptr; }
uint64_t Tensor::version() const { return impl_->storage()->version().load(); }
void Tensor::bump_version() const { impl_->storage()->version().fetch_add(1); }

void Tensor::retain_grad() const {
  ANNEAL_CHECK(requires_grad(), AutogradError, "retain_grad: can't retain_grad on Tensor that has requires_grad=False");
  if (is_leaf()) return;  // leaves keep their grad anyway
  auto& meta = impl_->ensure_autograd();
  if (meta.retains_grad) return;
  meta.retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  grad_fn()->pre_hooks[output_nr()].push_back([weak](const Tensor& g) -> Tensor {
    if (auto impl = weak.lock()) {
      auto& m = impl->ensure_autograd();
      if (!m.grad.defined()) m.grad = g.detach().clone();
      else autograd::math::add_inplace(m.grad, g);
    }
    return Tensor();
  });
}
bool Tensor::retains_grad() const {
  auto* m = impl_->autograd();
  return m && m->retains_grad;
}

void Tensor::register_hook(Hook hook) const {
  ANNEAL_CHECK(requires_grad(), AutogradError,
               "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  if (is_leaf()) impl_->ensure_autograd().leaf_hooks.push_back(std::move(hook));
  else grad_fn()->pre_hooks[output_nr()].push_back(std::move(hook));
}

void Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const {
  ANNEAL_CHECK(requires_grad() && is_leaf(), AutogradError,
               "register_post_accumulate_grad_hook: only leaf tensors that require grad accept this hook");
  impl_->ensure_autograd().post_accumulate_hooks.push_back(std::move(hook));
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

Tensor Tensor::detach() const {
  ANNEAL_CHECK_DEFINED("detach");
  // Shares storage and version counter: in-place writes through either are seen by both.
  auto impl = std::make_shared<TensorImpl>(impl_->storage(), impl_->dtype(), impl_->sizes(), impl_->strides(),
                                           impl_->offset());
  return Tensor(impl);
}

Tensor& Tensor::detach_() {
  if (auto* m = impl_->autograd()) {
    m->grad_fn.reset();
    m->requires_grad = false;
    m->output_nr = 0;
  }
  return *this;
}

}  // namespace anneal
