#pragma once
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"

namespace anneal {

// A number passed where a tensor could go (x + 1.5). Keeps its kind, because a Python
// style float scalar promotes an integer tensor to float but leaves a float16 tensor
// float16.
class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float };
  Scalar() : kind_(Kind::Int), i_(0) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : kind_(Kind::Int), i_(int64_t(v)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : kind_(Kind::Float), d_(double(v)) {}  // NOLINT
  Scalar(bool v) : kind_(Kind::Bool), i_(v) {}        // NOLINT
  Scalar(Half v) : kind_(Kind::Float), d_(float(v)) {}  // NOLINT
  Scalar(BFloat16 v) : kind_(Kind::Float), d_(float(v)) {}  // NOLINT

  Kind kind() const { return kind_; }
  bool is_floating() const { return kind_ == Kind::Float; }
  bool is_integral() const { return kind_ != Kind::Float; }
  double to_double() const { return kind_ == Kind::Float ? d_ : double(i_); }
  // Truncates a float toward zero; NaN, infinities and values beyond int64 are a
  // ValueError (a plain cast would be undefined and give INT64_MIN).
  int64_t to_int() const { return kind_ == Kind::Float ? float_to_int(d_) : i_; }
  static int64_t float_to_int(double d);
  bool to_bool() const { return kind_ == Kind::Float ? d_ != 0.0 : i_ != 0; }
  // The dtype a tensor made from this scalar alone would have.
  DType natural_dtype() const {
    return kind_ == Kind::Float ? default_float_dtype() : kind_ == Kind::Int ? DType::Int64 : DType::Bool;
  }

 private:
  Kind kind_;
  union {
    int64_t i_;
    double d_;
  };
};

}  // namespace anneal
