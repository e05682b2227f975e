#pragma once
#include <optional>
#include <tuple>

#include "core/tensor.h"

namespace anneal {

// Empty `dims` reduces over all dims.
Tensor sum(const Tensor& x, const IntList& dims = {}, bool keepdim = false, std::optional<DType> dtype = {});
Tensor mean(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor prod(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x);  // over everything; gradient shared evenly among ties
Tensor min(const Tensor& x);
// Values and int64 indices along one dim.
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = {}, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = {}, bool keepdim = false);
Tensor var(const Tensor& x, const IntList& dims = {}, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& x, const IntList& dims = {}, bool unbiased = true, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const IntList& dims, bool keepdim = false);
Tensor norm(const Tensor& x, double p = 2.0, const IntList& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
Tensor any(const Tensor& x, const IntList& dims = {}, bool keepdim = false);
// Sums `x` down to `shape` (undoes broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace anneal
