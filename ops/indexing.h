#pragma once
#include "core/tensor.h"

namespace anneal {

// Indices are int64 (int32 accepted); each is checked (IndexError); negatives count from the end.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// x with src's rows added at `index` along dim (out of place).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// x[mask]: the elements (or trailing sub-tensors) where a bool mask over x's leading
// dims is true, as a new tensor of shape [count, rest...].
Tensor masked_select(const Tensor& x, const Tensor& mask);
// x[indices] for integer indices along dim 0, or a bool mask.
Tensor index(const Tensor& x, const Tensor& indices_or_mask);
Tensor nonzero(const Tensor& x);
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = {});

}  // namespace anneal
