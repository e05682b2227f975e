#include "core/tensor_impl.h"

#include <sstream>

#include "core/checked_size.h"
#include "core/error.h"

namespace anneal {

Shape contiguous_strides(const Shape& sizes) {
  Shape st(sizes.size());
  int64_t s = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    st[i] = s;
    // (a shape with a zero can have more "elements" in its other dims than int64 holds)
    if (i > 0) s = checked_mul(s, std::max<int64_t>(sizes[i], 1), "contiguous strides");
  }
  return st;
}

int64_t shape_numel(const Shape& sizes) { return checked_numel(sizes, "shape"); }

std::string shape_to_string(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-dim tensor accepts dim 0 and -1
  ANNEAL_CHECK(dim >= -n && dim < n, IndexError, op, ": dimension out of range (expected to be in range of [",
               -n, ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

Tensor make_empty(const Shape& sizes, DType dtype, Allocator* allocator) {
  for (int64_t s : sizes)
    ANNEAL_CHECK(s >= 0, ValueError, "Trying to create tensor with negative dimension ", s, ": ", shape_to_string(sizes));
  const size_t nbytes = checked_nbytes(checked_numel(sizes, "empty"), element_size(dtype), "empty");
  auto storage = std::make_shared<StorageImpl>(nbytes, allocator);
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), dtype, sizes, contiguous_strides(sizes), 0));
}

Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  const TensorImpl* b = base.impl();
  // A view never reaches past its storage: every op that makes one goes through here, so a
  // wrong geometry is an error instead of a read or write out of bounds.
  const int64_t extent = checked_extent(sizes, strides, offset, "view");
  const int64_t available = int64_t(b->storage()->nbytes() / element_size(b->dtype()));
  ANNEAL_CHECK(extent <= available, ValueError, "view: geometry sizes ", shape_to_string(sizes), " strides ",
               shape_to_string(strides), " offset ", offset, " reaches element ", extent - 1, " of a storage of ",
               available, " elements");
  return Tensor(std::make_shared<TensorImpl>(b->storage(), b->dtype(), std::move(sizes), std::move(strides), offset));
}

static bool compute_contiguous(const Shape& sizes, const Shape& strides);

void TensorImpl::set_data(const TensorImpl& src) {
  storage_ = src.storage_;
  dtype_ = src.dtype_;
  sizes_ = src.sizes_;
  strides_ = src.strides_;
  offset_ = src.offset_;
  numel_ = src.numel_;
  contiguous_ = compute_contiguous(sizes_, strides_);
}

static bool compute_contiguous(const Shape& sizes, const Shape& strides) {
  int64_t expected = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (sizes[i] == 1) continue;
    if (sizes[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= sizes[i];
  }
  return true;
}

TensorImpl::TensorImpl(Storage storage, DType dtype, Shape sizes, Shape strides, int64_t offset)
    : storage_(std::move(storage)),
      dtype_(dtype),
      sizes_(std::move(sizes)),
      strides_(std::move(strides)),
      offset_(offset),
      numel_(shape_numel(sizes_)),
      contiguous_(compute_contiguous(sizes_, strides_)) {}

}  // namespace anneal
