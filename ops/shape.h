#pragma once
#include <optional>

#include "core/tensor.h"

namespace anneal {

// Views (share storage with the input; no copy).
Tensor view(const Tensor& x, const IntList& shape);  // error if not viewable
Tensor reshape(const Tensor& x, const IntList& shape);  // view when possible, else copy
Tensor permute(const Tensor& x, const IntList& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor expand(const Tensor& x, const IntList& shape);  // -1 keeps a dim
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = {});
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor unflatten(const Tensor& x, int64_t dim, const IntList& sizes);
// A view with explicit geometry over x's storage; every element must lie inside it.
Tensor as_strided(const Tensor& x, const IntList& sizes, const IntList& strides, std::optional<int64_t> offset = {});

// Copies.
Tensor cat(const TensorList& xs, int64_t dim = 0);
Tensor stack(const TensorList& xs, int64_t dim = 0);
TensorList split(const Tensor& x, int64_t split_size, int64_t dim = 0);
TensorList split_with_sizes(const Tensor& x, const IntList& sizes, int64_t dim = 0);
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor repeat(const Tensor& x, const IntList& repeats);
// pad = (left, right) pairs from the last dim backwards, as torch.nn.functional.pad;
// negative amounts crop.
Tensor pad(const Tensor& x, const IntList& pad, double value = 0.0);
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

}  // namespace anneal
