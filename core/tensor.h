#pragma once
// Tensor: a cheap, copyable handle to a shared TensorImpl. Copying a Tensor copies the
// handle, never the data. The methods declared here that compute (view, add, sum,
// matmul, ...) are thin forwards to the operators in ops/, defined there, so core stays
// free of op code while `x.sum()` still reads naturally.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/scalar.h"
#include "core/small_vector.h"

namespace anneal {

// Sizes, strides and lists of dims: inline up to 6 entries.
using Shape = SmallVector<int64_t, 6>;
using IntList = Shape;

class TensorImpl;
class Node;
class Tensor;
using TensorList = std::vector<Tensor>;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata (core) ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& sizes() const;
  const Shape& strides() const;
  Shape shape() const { return sizes(); }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  int64_t stride(int64_t dim) const;
  int64_t dim() const;
  int64_t numel() const;
  int64_t storage_offset() const;
  DType dtype() const;
  Device device() const;
  size_t element_size() const { return anneal::element_size(dtype()); }
  size_t nbytes() const { return size_t(numel()) * element_size(); }
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  // Address of element [0,...,0]. The typed form checks the dtype.
  void* data_ptr() const;
  template <typename T> T* data_ptr() const;
  Scalar item() const;  // one-element tensors only
  template <typename T> T item() const;
  std::string str() const;  // PyTorch-style printing
  std::string shape_str() const;  // "[2, 3]"
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- autograd (core) ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool r = true);
  Tensor& requires_grad_(bool r = true) { return set_requires_grad(r); }
  const Tensor& grad() const;
  Tensor& mutable_grad();
  void set_grad(const Tensor& g);
  std::shared_ptr<Node> grad_fn() const;
  uint32_t output_nr() const;
  bool is_leaf() const;
  uint64_t version() const;
  void bump_version() const;
  void retain_grad() const;
  bool retains_grad() const;
  // Called with the gradient w.r.t. this tensor; returning a defined tensor replaces it.
  using Hook = std::function<Tensor(const Tensor&)>;
  void register_hook(Hook hook) const;
  // Leaves only: called after the gradient was accumulated into .grad.
  void register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const;
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false, bool create_graph = false) const;
  Tensor detach() const;
  Tensor& detach_();

  // ---- views (ops/shape) ----
  Tensor view(const IntList& shape) const;
  Tensor reshape(const IntList& shape) const;
  Tensor permute(const IntList& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor mT() const;  // transpose of the last two dims
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor index(const Tensor& indices_or_mask) const;  // integer indices on dim 0, or a bool mask
  Tensor expand(const IntList& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, const IntList& sizes) const;
  Tensor as_strided(const IntList& sizes, const IntList& strides, std::optional<int64_t> offset = {}) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device, bool non_blocking = false) const;  // see ops/elementwise.h
  Tensor to(Device device, DType dtype) const;
  Tensor cpu() const { return to(kCPU); }
  // Page-locked host memory (for fast, asynchronous copies to a GPU); needs CUDA.
  bool is_pinned() const;
  Tensor pin_memory() const;

  // ---- in-place (ops) ----
  Tensor& fill_(Scalar value);
  Tensor& zero_();
  Tensor& copy_(const Tensor& src);
  Tensor& add_(const Tensor& other, Scalar alpha = 1);
  Tensor& add_(Scalar other);
  Tensor& sub_(const Tensor& other);
  Tensor& sub_(Scalar other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(Scalar other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(Scalar other);
  Tensor& clamp_(std::optional<double> lo, std::optional<double> hi);
  Tensor& relu_();
  Tensor& masked_fill_(const Tensor& mask, Scalar value);
  Tensor& uniform_(double low = 0, double high = 1);
  Tensor& normal_(double mean = 0, double std = 1);

  // ---- math (ops) ----
  Tensor neg() const;
  Tensor abs() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor pow(Scalar exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor clamp(std::optional<double> lo, std::optional<double> hi) const;
  Tensor add(const Tensor& o) const;
  Tensor sub(const Tensor& o) const;
  Tensor mul(const Tensor& o) const;
  Tensor div(const Tensor& o) const;
  Tensor matmul(const Tensor& o) const;
  Tensor mm(const Tensor& o) const;
  Tensor sum() const;
  Tensor sum(const IntList& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const IntList& dims, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  Tensor argmax(std::optional<int64_t> dim = {}, bool keepdim = false) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor eq(const Tensor& o) const;
  Tensor masked_fill(const Tensor& mask, Scalar value) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace anneal
