// Dropout: a Bernoulli keep-mask from the Philox generator, scaled by 1 / (1 - p).
#include "ops/nn.h"

#include <cmath>

#include "core/autograd/engine.h"
#include "ops/autocast.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/indexing.h"
#include "ops/internal.h"
#include "ops/linalg.h"
#include "ops/nn_common.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_defined("dropout", x);
  ANNEAL_CHECK(p >= 0 && p <= 1, ValueError, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0) return x;
  if (p == 1) return x * 0.0;
  Tensor keep = rand(x.sizes(), {float_compute_dtype(x.dtype()), x.device()}, gen) >= p;
  return x * keep.to(x.dtype()) * (1.0 / (1.0 - p));
}

}  // namespace anneal
