#pragma once
// How Backend::reduce combines values, shared by the CPU and CUDA kernels so both give
// the same answers: the identity of each op, and max/min letting NaN win (as PyTorch).
#include <limits>
#include <type_traits>

#include "core/philox.h"  // ANNEAL_HOST_DEVICE
#include "kernels/backend.h"

namespace anneal {

template <typename A>
ANNEAL_HOST_DEVICE inline bool reduce_is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>) return v != v;
  else return false;
}

template <typename A>
ANNEAL_HOST_DEVICE inline A reduce_identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::Prod: case ReduceOp::All: return A(1);
    case ReduceOp::Max:
      return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest();
    case ReduceOp::Min:
      return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max();
    default: return A(0);
  }
}

template <typename A>
ANNEAL_HOST_DEVICE inline A reduce_combine(ReduceOp op, A acc, A v) {
  switch (op) {
    case ReduceOp::Sum: return acc + v;
    case ReduceOp::Prod: return acc * v;
    case ReduceOp::Max:
      return (reduce_is_nan(acc) || reduce_is_nan(v)) ? (reduce_is_nan(acc) ? acc : v) : (v > acc ? v : acc);
    case ReduceOp::Min:
      return (reduce_is_nan(acc) || reduce_is_nan(v)) ? (reduce_is_nan(acc) ? acc : v) : (v < acc ? v : acc);
    case ReduceOp::All: return A(acc != A(0) && v != A(0));
    case ReduceOp::Any: return A(acc != A(0) || v != A(0));
    default: return acc;
  }
}

}  // namespace anneal
