// Tensor's methods (declared in core/tensor.h) as forwards to the operators, and the
// in-place operators with their autograd rules.
#include "core/tensor.h"

#include "core/checked_size.h"
#include "ops/internal.h"
#include "ops/ops.h"

namespace anneal {
using namespace detail;

// ---- views and copies ----
Tensor Tensor::view(const IntList& s) const { return anneal::view(*this, s); }
Tensor Tensor::reshape(const IntList& s) const { return anneal::reshape(*this, s); }
Tensor Tensor::permute(const IntList& d) const { return anneal::permute(*this, d); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return anneal::transpose(*this, a, b); }
Tensor Tensor::t() const {
  ANNEAL_CHECK(dim() <= 2, ValueError, "t: expects a tensor with <= 2 dimensions, but self is ", dim(), "D");
  return dim() < 2 ? *this : transpose(0, 1);
}
Tensor Tensor::mT() const {
  ANNEAL_CHECK(dim() >= 2, ValueError, "mT: tensor of dimension ", dim(), " has no matrix transpose");
  return transpose(-2, -1);
}
Tensor Tensor::narrow(int64_t d, int64_t s, int64_t l) const { return anneal::narrow(*this, d, s, l); }
Tensor Tensor::slice(int64_t d, std::optional<int64_t> s, std::optional<int64_t> e, int64_t st) const {
  return anneal::slice(*this, d, s, e, st);
}
Tensor Tensor::select(int64_t d, int64_t i) const { return anneal::select(*this, d, i); }
Tensor Tensor::index(const Tensor& i) const { return anneal::index(*this, i); }
Tensor Tensor::expand(const IntList& s) const { return anneal::expand(*this, s); }
Tensor Tensor::squeeze() const { return anneal::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return anneal::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return anneal::unsqueeze(*this, d); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return anneal::flatten(*this, s, e); }
Tensor Tensor::unflatten(int64_t d, const IntList& s) const { return anneal::unflatten(*this, d, s); }
Tensor Tensor::as_strided(const IntList& s, const IntList& st, std::optional<int64_t> o) const {
  return anneal::as_strided(*this, s, st, o);
}
Tensor Tensor::contiguous() const { return anneal::contiguous(*this); }
Tensor Tensor::clone() const { return anneal::clone(*this); }
bool Tensor::is_pinned() const { return anneal::is_pinned(*this); }
Tensor Tensor::pin_memory() const { return anneal::pin_memory(*this); }
Tensor Tensor::to(DType d) const { return anneal::to(*this, d); }
Tensor Tensor::to(Device d, bool non_blocking) const { return anneal::to(*this, d, non_blocking); }
Tensor Tensor::to(Device d, DType t) const { return anneal::to(anneal::to(*this, d), t); }

// ---- math ----
Tensor Tensor::neg() const { return anneal::neg(*this); }
Tensor Tensor::abs() const { return anneal::abs(*this); }
Tensor Tensor::exp() const { return anneal::exp(*this); }
Tensor Tensor::log() const { return anneal::log(*this); }
Tensor Tensor::sqrt() const { return anneal::sqrt(*this); }
Tensor Tensor::rsqrt() const { return anneal::rsqrt(*this); }
Tensor Tensor::sin() const { return anneal::sin(*this); }
Tensor Tensor::cos() const { return anneal::cos(*this); }
Tensor Tensor::tanh() const { return anneal::tanh(*this); }
Tensor Tensor::sigmoid() const { return anneal::sigmoid(*this); }
Tensor Tensor::relu() const { return anneal::relu(*this); }
Tensor Tensor::pow(Scalar e) const { return anneal::pow(*this, e); }
Tensor Tensor::pow(const Tensor& e) const { return anneal::pow(*this, e); }
Tensor Tensor::clamp(std::optional<double> lo, std::optional<double> hi) const { return anneal::clamp(*this, lo, hi); }
Tensor Tensor::add(const Tensor& o) const { return anneal::add(*this, o); }
Tensor Tensor::sub(const Tensor& o) const { return anneal::sub(*this, o); }
Tensor Tensor::mul(const Tensor& o) const { return anneal::mul(*this, o); }
Tensor Tensor::div(const Tensor& o) const { return anneal::div(*this, o); }
Tensor Tensor::matmul(const Tensor& o) const { return anneal::matmul(*this, o); }
Tensor Tensor::mm(const Tensor& o) const { return anneal::mm(*this, o); }
Tensor Tensor::sum() const { return anneal::sum(*this); }
Tensor Tensor::sum(const IntList& d, bool k) const { return anneal::sum(*this, d, k); }
Tensor Tensor::mean() const { return anneal::mean(*this); }
Tensor Tensor::mean(const IntList& d, bool k) const { return anneal::mean(*this, d, k); }
Tensor Tensor::max() const { return anneal::max(*this); }
Tensor Tensor::min() const { return anneal::min(*this); }
Tensor Tensor::argmax(std::optional<int64_t> d, bool k) const { return anneal::argmax(*this, d, k); }
Tensor Tensor::softmax(int64_t d) const { return anneal::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return anneal::log_softmax(*this, d); }
Tensor Tensor::eq(const Tensor& o) const { return anneal::eq(*this, o); }
Tensor Tensor::masked_fill(const Tensor& m, Scalar v) const { return anneal::masked_fill(*this, m, v); }

// ---- in-place ----
namespace {

bool needs_history(const Tensor& self, const TensorList& others) {
  if (!GradMode::is_enabled()) return false;
  if (self.requires_grad()) return true;
  for (auto& o : others)
    if (o.defined() && o.requires_grad()) return true;
  return false;
}

void check_inplace_allowed(const char* op, const Tensor& self) {
  ANNEAL_CHECK(!(self.is_leaf() && self.requires_grad()), AutogradError, op,
               ": a leaf Variable that requires grad is being used in an in-place operation.");
  ANNEAL_CHECK(!is_view(self), NotImplementedError, op,
               ": in-place operations on views are not differentiable yet; use the out-of-place form, or run it "
               "under NoGradGuard");
}

// An in-place write into a tensor in which several elements share one memory location (an
// expanded, stride-0 tensor) has no meaning: refused as PyTorch refuses it.
void check_no_internal_overlap(const char* op, const Tensor& self) {
  for (int64_t d = 0; d < self.dim(); ++d)
    ANNEAL_CHECK(!(self.stride(d) == 0 && self.size(d) > 1), ValueError, op,
                 ": unsupported operation: more than one element of the written-to tensor (shape ", self.shape_str(),
                 ", stride 0 in dim ", d, ") refers to a single memory location; clone() it first");
}

// `src` as an input of an in-place write into `self`: when the two share memory without
// being the very same elements (x.copy_(x.t()), a shifted slice), a copy of it, so that
// no element is read after it was overwritten.
Tensor unaliased(const Tensor& self, const Tensor& src) {
  if (!src.defined() || self.impl()->storage() != src.impl()->storage()) return src;
  if (self.storage_offset() == src.storage_offset() && self.sizes() == src.sizes() && self.strides() == src.strides())
    return src;  // elementwise on itself (x.add_(x)) reads each element before writing it
  if (src.numel() == 0 || self.numel() == 0) return src;
  const int64_t a0 = self.storage_offset(), a1 = checked_extent(self.sizes(), self.strides(), a0, "in-place");
  const int64_t b0 = src.storage_offset(), b1 = checked_extent(src.sizes(), src.strides(), b0, "in-place");
  if (a1 <= b0 || b1 <= a0) return src;  // disjoint ranges of the storage
  NoGradGuard ng;
  return anneal::clone(src);
}

// Writes `value` (same shape) into self and gives self value's history; `value` was
// computed out of place from a copy of self, so nothing saved for backward aliases self.
void commit(Tensor& self, const Tensor& value) {
  backend_of(self).copy(self, value);
  self.bump_version();
  if (value.requires_grad()) {
    auto& m = self.impl()->ensure_autograd();
    m.requires_grad = true;
    m.grad_fn = value.grad_fn();
    m.output_nr = value.output_nr();
  }
}

void check_inplace_shape(const char* op, const Tensor& self, const Tensor& other) {
  Shape b = broadcast_shapes(op, self.sizes(), other.sizes());
  ANNEAL_CHECK(b == self.sizes(), ValueError, op, ": output with shape ", self.shape_str(),
               " doesn't match the broadcast shape ", shape_to_string(b));
}

void check_inplace_dtype(const char* op, const Tensor& self, DType result) {
  ANNEAL_CHECK(!(is_floating(result) && !is_floating(self.dtype())), TypeError, op, ": result type ",
               dtype_name(result), " can't be cast to the desired output type ", dtype_name(self.dtype()));
}

template <typename OutOfPlace>
Tensor& inplace_binary(Tensor& self, const Tensor& other_in, BinaryOp op, const char* name, OutOfPlace f) {
  check_defined(name, self);
  check_defined(name, other_in, "other");
  check_same_device(name, self, other_in);
  check_inplace_shape(name, self, other_in);
  check_no_internal_overlap(name, self);
  const Tensor other = other_in.requires_grad() ? other_in : unaliased(self, other_in);
  DType rt = result_type({self, other});
  if (op == BinaryOp::Div) rt = float_compute_dtype(rt);
  check_inplace_dtype(name, self, rt);
  if (needs_history(self, {other})) {
    check_inplace_allowed(name, self);
    commit(self, anneal::to(f(anneal::clone(self), other), self.dtype()));
    return self;
  }
  if (rt == self.dtype()) {
    backend_of(self).binary(op, self, expand_raw(cast_raw(other, rt), self.sizes()), self);
  } else {
    Tensor r = f(self, other);
    backend_of(self).copy(self, r);
  }
  self.bump_version();
  return self;
}

template <typename OutOfPlace>
Tensor& inplace_unary(Tensor& self, const char* name, OutOfPlace f) {
  check_defined(name, self);
  check_no_internal_overlap(name, self);
  if (needs_history(self, {})) {
    check_inplace_allowed(name, self);
    commit(self, anneal::to(f(anneal::clone(self)), self.dtype()));
    return self;
  }
  Tensor r = f(self);
  backend_of(self).copy(self, r);
  self.bump_version();
  return self;
}

}  // namespace

Tensor& Tensor::fill_(Scalar v) {
  check_defined("fill_", *this);
  check_no_internal_overlap("fill_", *this);
  if (needs_history(*this, {})) check_inplace_allowed("fill_", *this);
  backend_of(*this).fill(*this, v);
  bump_version();
  if (auto* m = impl()->autograd(); m && m->grad_fn) {
    m->grad_fn.reset();  // a constant now: no gradient flows to what it was
    m->requires_grad = false;
  }
  return *this;
}
Tensor& Tensor::zero_() { return fill_(0); }

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_", *this);
  check_defined("copy_", src, "src");
  check_inplace_shape("copy_", *this, src);
  check_no_internal_overlap("copy_", *this);
  if (needs_history(*this, {src})) {
    check_inplace_allowed("copy_", *this);
    Tensor v = anneal::to(anneal::expand(src.to(device()), sizes()), dtype());
    commit(*this, anneal::clone(v));
    return *this;
  }
  Tensor s = src.device() == device() ? unaliased(*this, src) : anneal::to(src, device());
  backend_of(*this).copy(*this, expand_raw(s, sizes()));
  bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& o, Scalar alpha) {
  if (alpha.to_double() != 1.0) return add_(anneal::mul(o, alpha));
  return inplace_binary(*this, o, BinaryOp::Add, "add_", [](const Tensor& a, const Tensor& b) { return anneal::add(a, b); });
}
Tensor& Tensor::add_(Scalar o) { return add_(wrapped_scalar(o, device())); }
Tensor& Tensor::sub_(const Tensor& o) {
  return inplace_binary(*this, o, BinaryOp::Sub, "sub_", [](const Tensor& a, const Tensor& b) { return anneal::sub(a, b); });
}
Tensor& Tensor::sub_(Scalar o) { return sub_(wrapped_scalar(o, device())); }
Tensor& Tensor::mul_(const Tensor& o) {
  return inplace_binary(*this, o, BinaryOp::Mul, "mul_", [](const Tensor& a, const Tensor& b) { return anneal::mul(a, b); });
}
Tensor& Tensor::mul_(Scalar o) { return mul_(wrapped_scalar(o, device())); }
Tensor& Tensor::div_(const Tensor& o) {
  return inplace_binary(*this, o, BinaryOp::Div, "div_", [](const Tensor& a, const Tensor& b) { return anneal::div(a, b); });
}
Tensor& Tensor::div_(Scalar o) { return div_(wrapped_scalar(o, device())); }
Tensor& Tensor::clamp_(std::optional<double> lo, std::optional<double> hi) {
  return inplace_unary(*this, "clamp_", [&](const Tensor& a) { return anneal::clamp(a, lo, hi); });
}
Tensor& Tensor::relu_() {
  return inplace_unary(*this, "relu_", [](const Tensor& a) { return anneal::relu(a); });
}
Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar v) {
  return inplace_unary(*this, "masked_fill_", [&](const Tensor& a) { return anneal::masked_fill(a, mask, v); });
}
Tensor& Tensor::uniform_(double lo, double hi) {
  check_defined("uniform_", *this);
  check_no_internal_overlap("uniform_", *this);
  ANNEAL_CHECK(lo <= hi, ValueError, "uniform_: expects from <= to, got from=", lo, " to=", hi);
  if (needs_history(*this, {})) check_inplace_allowed("uniform_", *this);
  Tensor r = anneal::rand(sizes(), {dtype(), device()});
  NoGradGuard ng;
  backend_of(*this).copy(*this, (lo == 0 && hi == 1) ? r : r * (hi - lo) + lo);
  bump_version();
  return *this;
}
Tensor& Tensor::normal_(double mean, double std) {
  check_defined("normal_", *this);
  check_no_internal_overlap("normal_", *this);
  ANNEAL_CHECK(std >= 0, ValueError, "normal_: expects std >= 0.0, got ", std);
  if (needs_history(*this, {})) check_inplace_allowed("normal_", *this);
  Tensor r = anneal::randn(sizes(), {dtype(), device()});
  NoGradGuard ng;
  backend_of(*this).copy(*this, (mean == 0 && std == 1) ? r : r * std + mean);
  bump_version();
  return *this;
}

}  // namespace anneal
