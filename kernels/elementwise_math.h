#pragma once
// The formulas of the elementwise maps (unary and binary), written once for the CPU and
// CUDA backends (as
// kernels/reduce_combine.h does for reductions). Each takes a math policy M for the
// transcendental functions: the CPU's vectorisable float exp/erf (kernels/cpu/fast_math.h)
// or the device library's (kernels/cuda/elementwise.cu); everything else is shared.
#include <cstdint>
#include <type_traits>

#include "core/macros.h"
#include "kernels/backend.h"

namespace anneal::math {

inline constexpr double kInvSqrt2 = 0.70710678118654752440;      // 1 / sqrt(2)
inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;    // 1 / sqrt(2 pi)
inline constexpr double kSqrt2OverPi = 0.79788456080286535588;   // sqrt(2 / pi)
inline constexpr double kGeluTanhCubic = 0.044715;               // GELU's tanh approximation

template <class M, class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C sigmoid(C x) { return C(1) / (C(1) + M::exp(-x)); }
// ReLU that keeps NaN (as PyTorch's).
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C relu(C x) { return x > C(0) ? x : (x != x ? x : C(0)); }
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C leaky_relu(C x, C slope) { return x > C(0) ? x : x * slope; }
template <class M, class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C gelu(C x) {
  return C(0.5) * x * (C(1) + M::erf(x * C(kInvSqrt2)));
}
// d gelu / dx = Φ(x) + x φ(x)
template <class M, class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C gelu_grad(C x) {
  return C(0.5) * (C(1) + M::erf(x * C(kInvSqrt2))) + x * M::exp(C(-0.5) * x * x) * C(kInvSqrt2Pi);
}
template <class M, class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C gelu_tanh(C x) {
  return C(0.5) * x * (C(1) + M::tanh(C(kSqrt2OverPi) * (x + C(kGeluTanhCubic) * x * x * x)));
}
template <class M, class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C silu(C x) { return x / (C(1) + M::exp(-x)); }
// softplus with PyTorch's beta and threshold (linear above threshold / beta)
template <class M, class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C softplus(C x, C beta, C threshold) {
  return x * beta > threshold ? x : M::log1p(M::exp(x * beta)) / beta;
}
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C sign(C x) { return x != x ? x : C((C(0) < x) - (x < C(0))); }
// clamp to [lo, hi] where a NaN bound means "no bound"; NaN inputs stay NaN
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C clamp(C x, C lo, C hi) {
  if (x != x) return x;
  if (lo == lo && x < lo) x = lo;
  if (hi == hi && x > hi) x = hi;
  return x;
}

// ---- binary ----
// NaN-propagating maximum / minimum of floats (as PyTorch's, unlike std::max).
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C maximum_nan(C x, C y) {
  return x != x ? x : (y != y ? y : (x > y ? x : y));
}
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C minimum_nan(C x, C y) {
  return x != x ? x : (y != y ? y : (x < y ? x : y));
}
// Integer division that does not trap on zero (ops promote true division to float; only
// floor-style integer paths reach a backend, guarded anyway).
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C int_div(C x, C y) { return y == C(0) ? C(0) : C(x / y); }
// x^y of integers by squaring, wrapping as the integer type would; a negative exponent
// gives 1 for x = 1 and 0 otherwise; for bool, x or not y.
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C int_pow(C x, C y) {
  if constexpr (std::is_same_v<C, bool>) {
    return C(x || !y);
  } else {
    if (y < C(0)) return C(x == C(1) ? 1 : 0);
    int64_t r = 1, base = int64_t(x);
    for (int64_t k = int64_t(y); k > 0; k >>= 1, base = base * base)
      if (k & 1) r = r * base;
    return C(r);
  }
}
// ReLU's backward: the gradient where the output is positive.
template <class C> ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C relu_grad(C g, C y) { return y > C(0) ? g : C(0); }

// Names for error messages ("gelu", "maximum", ...), never enum numbers.
const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

}  // namespace anneal::math
