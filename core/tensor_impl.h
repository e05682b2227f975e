#pragma once
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/storage.h"
#include "core/tensor.h"

namespace anneal {

// Per-tensor autograd state; absent on tensors that never took part in autograd.
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;            // null for leaves
  uint32_t output_nr = 0;                   // which output of grad_fn this tensor is
  std::weak_ptr<Node> grad_accumulator;     // leaves: the node that writes .grad
  std::vector<Tensor::Hook> leaf_hooks;     // leaves: run before accumulation
  std::vector<std::function<void(const Tensor&)>> post_accumulate_hooks;
  bool retains_grad = false;
};

class TensorImpl {
 public:
  TensorImpl(Storage storage, DType dtype, Shape sizes, Shape strides, int64_t offset);

  const Shape& sizes() const { return sizes_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  const Storage& storage() const { return storage_; }
  // Points this tensor at other data (Module::to moves parameters this way, so that
  // everyone holding the tensor sees the move); autograd state is kept.
  void set_data(const TensorImpl& src);
  bool is_contiguous() const { return contiguous_; }
  void* data() const {
    return static_cast<char*>(storage_->data()) + offset_ * int64_t(element_size(dtype_));
  }

  AutogradMeta* autograd() const { return autograd_ ? const_cast<AutogradMeta*>(&*autograd_) : nullptr; }
  AutogradMeta& ensure_autograd() {
    if (!autograd_) autograd_.emplace();
    return *autograd_;
  }
  void clear_autograd() { autograd_.reset(); }

  // Python-style scalars wrapped as 0-dim tensors take part in promotion with the lowest
  // priority (x_float16 * 2.5 stays float16).
  bool is_wrapped_number = false;
  // Made by a view op: shares storage with another tensor that autograd may track.
  bool is_view = false;

 private:
  Storage storage_;
  DType dtype_;
  Shape sizes_, strides_;
  int64_t offset_;
  int64_t numel_;
  bool contiguous_;
  std::optional<AutogradMeta> autograd_;  // inline: one allocation less per tracked tensor
};

// A new contiguous tensor with uninitialised memory from `allocator`.
Tensor make_empty(const Shape& sizes, DType dtype, Allocator* allocator);
// A tensor sharing `base`'s storage and version counter, with its own geometry (no
// autograd: the ops that make views record their own backward).
Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset);

Shape contiguous_strides(const Shape& sizes);
int64_t shape_numel(const Shape& sizes);
std::string shape_to_string(const Shape& s);
// Wraps a negative dim; throws IndexError naming `op` when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace anneal
