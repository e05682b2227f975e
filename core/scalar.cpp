#include "core/scalar.h"

#include <cmath>

#include "core/error.h"

namespace anneal {

int64_t Scalar::float_to_int(double d) {
  ANNEAL_CHECK(!std::isnan(d), ValueError, "cannot convert float NaN to integer");
  ANNEAL_CHECK(std::isfinite(d), ValueError, "cannot convert float infinity to integer");
  // [-2^63, 2^63) is exactly the doubles that truncate into int64
  ANNEAL_CHECK(d >= -0x1p63 && d < 0x1p63, ValueError, "value ", d, " cannot be converted to int64 without overflow");
  return int64_t(d);
}

}  // namespace anneal
