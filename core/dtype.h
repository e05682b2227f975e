#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/half.h"

namespace anneal {

enum class DType : uint8_t { Bool, UInt8, Int32, Int64, Float16, BFloat16, Float32, Float64 };
constexpr int kNumDTypes = 8;

size_t element_size(DType t);
const char* dtype_name(DType t);  // "float32", ...
DType dtype_from_name(const std::string& name);  // throws TypeError for unknown names
inline bool is_floating(DType t) {
  return t == DType::Float16 || t == DType::BFloat16 || t == DType::Float32 || t == DType::Float64;
}
inline bool is_integral(DType t, bool include_bool = false) {
  return t == DType::UInt8 || t == DType::Int32 || t == DType::Int64 || (include_bool && t == DType::Bool);
}
// PyTorch's promotion lattice for two tensors of equal priority.
DType promote_types(DType a, DType b);
// The default floating dtype (float32), used when integers meet a float scalar.
DType default_float_dtype();
void set_default_float_dtype(DType t);

template <typename T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };

// The type arithmetic happens in: 16-bit floats compute in float32.
template <typename T> struct compute_type { using type = T; };
template <> struct compute_type<Half> { using type = float; };
template <> struct compute_type<BFloat16> { using type = float; };
template <typename T> using compute_t = typename compute_type<T>::type;

}  // namespace anneal

// Runs the body with `scalar_t` bound to the C++ type of `dtype`.
#define ANNEAL_DTYPE_CASE(enum_val, T, ...) \
  case ::anneal::DType::enum_val: {         \
    using scalar_t = T;                     \
    return __VA_ARGS__();                   \
  }
// The cases of each dtype family, listed once; the dispatchers below combine them.
#define ANNEAL_FLOATING_CASES(...)                                \
  ANNEAL_DTYPE_CASE(Float32, float, __VA_ARGS__)                  \
  ANNEAL_DTYPE_CASE(Float64, double, __VA_ARGS__)                 \
  ANNEAL_DTYPE_CASE(Float16, ::anneal::Half, __VA_ARGS__)         \
  ANNEAL_DTYPE_CASE(BFloat16, ::anneal::BFloat16, __VA_ARGS__)
#define ANNEAL_INTEGRAL_CASES(...)                \
  ANNEAL_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)  \
  ANNEAL_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)  \
  ANNEAL_DTYPE_CASE(UInt8, uint8_t, __VA_ARGS__)
// The one error for a dtype an op does not take.
#define ANNEAL_UNSUPPORTED_DTYPE(opname, dtype) \
  throw ::anneal::TypeError(::anneal::str(opname, ": not supported for dtype ", ::anneal::dtype_name(dtype)))

#define ANNEAL_DISPATCH_FLOATING(dtype, opname, ...) \
  [&] {                                              \
    switch (dtype) {                                 \
      ANNEAL_FLOATING_CASES(__VA_ARGS__)             \
      default: ANNEAL_UNSUPPORTED_DTYPE(opname, dtype); \
    }                                                \
  }()
#define ANNEAL_DISPATCH_NUMERIC(dtype, opname, ...) \
  [&] {                                             \
    switch (dtype) {                                \
      ANNEAL_FLOATING_CASES(__VA_ARGS__)            \
      ANNEAL_INTEGRAL_CASES(__VA_ARGS__)            \
      default: ANNEAL_UNSUPPORTED_DTYPE(opname, dtype); \
    }                                               \
  }()
#define ANNEAL_DISPATCH_ALL(dtype, opname, ...)  \
  [&] {                                          \
    switch (dtype) {                             \
      ANNEAL_FLOATING_CASES(__VA_ARGS__)         \
      ANNEAL_INTEGRAL_CASES(__VA_ARGS__)         \
      ANNEAL_DTYPE_CASE(Bool, bool, __VA_ARGS__) \
    }                                            \
    ANNEAL_UNSUPPORTED_DTYPE(opname, dtype);     \
  }()
