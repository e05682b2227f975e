// Elementwise operators: forward through the device's unary/binary kernels, backward
// written with the same operators (so it runs on any device and is differentiable).
#include "ops/elementwise.h"

#include "kernels/elementwise_math.h"

#include <cmath>

#include "ops/internal.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using UnaryGrad = Tensor (*)(const Tensor& g, const Tensor& x, const Tensor& out, const UnaryParams& p);

enum Save : int { kNone = 0, kInput = 1, kOutput = 2 };

Tensor unary_op(const char* name, const char* node_name, UnaryOp op, const Tensor& x, UnaryParams p, UnaryGrad grad,
                int save, bool float_only = true) {
  check_defined(name, x);
  DType d = float_only ? float_compute_dtype(x.dtype()) : x.dtype();
  Tensor out = empty_on(x.sizes(), d, x.device());
  backend_of(x).unary(op, cast_raw(x, d), out, p);
  if (grad && autograd::any_requires_grad({x})) {
    auto sx = std::make_shared<SavedTensor>();
    auto so = std::make_shared<SavedTensor>();
    if (save & kInput) *sx = SavedTensor(x, false);
    record(node_name, {x}, {out}, [sx, so, p, grad](const TensorList& g) -> TensorList {
      return {grad(g[0], sx->unpack(), so->unpack(), p)};
    });
    if (save & kOutput) *so = SavedTensor(out, true);
  }
  return out;
}

Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b, const char* name, bool float_result = false) {
  check_defined(name, a, "first argument");
  check_defined(name, b, "second argument");
  check_same_device(name, a, b);
  DType common = result_type({a, b});
  if (float_result) common = float_compute_dtype(common);
  Shape shape = broadcast_shapes(name, a.sizes(), b.sizes());
  Tensor out = empty_on(shape, is_comparison(op) ? DType::Bool : common, a.device());
  backend_of(a).binary(op, expand_raw(cast_raw(a, common), shape), expand_raw(cast_raw(b, common), shape), out);
  return out;
}

Tensor scalar_like(Scalar s, const Tensor& t) { return wrapped_scalar(s, t.device()); }


}  // namespace

// ---- unary ----
#define UNARY(fn, Op, Node, save, grad_expr)                                                         \
  Tensor fn(const Tensor& x) {                                                                       \
    return unary_op(#fn, Node, UnaryOp::Op, x, {},                                                   \
                    [](const Tensor& g, const Tensor& x, const Tensor& out, const UnaryParams& p) { \
                      (void)x; (void)out; (void)p;                                                   \
                      return Tensor(grad_expr);                                                      \
                    },                                                                               \
                    save);                                                                           \
  }

UNARY(exp, Exp, "ExpBackward0", kOutput, g * out)
UNARY(expm1, Expm1, "Expm1Backward0", kOutput, g * (out + 1))
UNARY(log, Log, "LogBackward0", kInput, g / x)
UNARY(log1p, Log1p, "Log1pBackward0", kInput, g / (x + 1))
UNARY(sqrt, Sqrt, "SqrtBackward0", kOutput, g / (out * 2))
UNARY(rsqrt, Rsqrt, "RsqrtBackward0", kOutput, g * pow(out, 3) * -0.5)
UNARY(reciprocal, Reciprocal, "ReciprocalBackward0", kOutput, -g * out * out)
UNARY(sin, Sin, "SinBackward0", kInput, g * cos(x))
UNARY(cos, Cos, "CosBackward0", kInput, -g * sin(x))
UNARY(tanh, Tanh, "TanhBackward0", kOutput, g * (1 - out * out))
UNARY(sigmoid, Sigmoid, "SigmoidBackward0", kOutput, g * out * (1 - out))
UNARY(silu, Silu, "SiluBackward0", kInput, g * (sigmoid(x) * (1 + x * (1 - sigmoid(x)))))
UNARY(erf, Erf, "ErfBackward0", kInput, g * exp(-x * x) * 1.1283791670955126)
UNARY(floor, Floor, "FloorBackward0", kNone, zeros_like(g))
UNARY(ceil, Ceil, "CeilBackward0", kNone, zeros_like(g))
UNARY(round, Round, "RoundBackward0", kNone, zeros_like(g))
#undef UNARY

Tensor neg(const Tensor& x) {
  return unary_op("neg", "NegBackward0", UnaryOp::Neg, x, {},
                  [](const Tensor& g, const Tensor&, const Tensor&, const UnaryParams&) { return neg(g); }, kNone, false);
}
Tensor abs(const Tensor& x) {
  return unary_op("abs", "AbsBackward0", UnaryOp::Abs, x, {},
                  [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams&) { return g * sign(x); },
                  kInput, false);
}
Tensor square(const Tensor& x) {
  return unary_op("square", "PowBackward0", UnaryOp::Square, x, {},
                  [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams&) { return g * x * 2; },
                  kInput, false);
}
Tensor sign(const Tensor& x) {
  return unary_op("sign", "SignBackward0", UnaryOp::Sign, x, {},
                  [](const Tensor& g, const Tensor&, const Tensor&, const UnaryParams&) { return zeros_like(g); }, kNone,
                  false);
}
// g where out > 0, else 0, in one pass; differentiable in g (the mask has no gradient).
static Tensor relu_grad(const Tensor& g, const Tensor& out) {
  Tensor r = binary_raw(BinaryOp::ReluGrad, g, out, "relu_backward");
  if (autograd::any_requires_grad({g})) {
    SavedTensor so(out, false);
    record("ReluBackwardBackward0", {g}, {r}, [so](const TensorList& gg) -> TensorList {
      return {relu_grad(gg[0], so.unpack())};
    });
  }
  return r;
}
Tensor relu(const Tensor& x) {
  return unary_op("relu", "ReluBackward0", UnaryOp::Relu, x, {},
                  [](const Tensor& g, const Tensor&, const Tensor& out, const UnaryParams&) { return relu_grad(g, out); },
                  kOutput, false);
}
Tensor leaky_relu(const Tensor& x, double slope) {
  return unary_op("leaky_relu", "LeakyReluBackward0", UnaryOp::LeakyRelu, x, {slope, 0},
                  [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams& p) {
                    return where(x > 0, g, g * p.a);
                  },
                  kInput);
}
Tensor gelu(const Tensor& x, bool approx) {
  if (approx)
    return unary_op("gelu", "GeluBackward0", UnaryOp::GeluTanh, x, {},
                    [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams&) {
                      const double k = math::kSqrt2OverPi, c = math::kGeluTanhCubic;
                      Tensor t = tanh((x + pow(x, 3) * c) * k);
                      return g * ((1 + t) * 0.5 + x * (1 - t * t) * (1 + x * x * (3 * c)) * (0.5 * k));
                    },
                    kInput);
  return unary_op("gelu", "GeluBackward0", UnaryOp::Gelu, x, {},
                  [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams&) {
                    if (!GradMode::is_enabled()) {  // one pass for Φ(x) + x·φ(x)
                      const DType d = float_compute_dtype(x.dtype());
                      Tensor deriv = empty_on(x.sizes(), d, x.device());
                      backend_of(x).unary(UnaryOp::GeluGrad, cast_raw(x, d), deriv, {});
                      return g * deriv;
                    }
                    Tensor cdf = (1 + erf(x * math::kInvSqrt2)) * 0.5;
                    Tensor pdf = exp(x * x * -0.5) * math::kInvSqrt2Pi;
                    return g * (cdf + x * pdf);
                  },
                  kInput);
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  ANNEAL_CHECK(beta != 0, ValueError, "softplus: beta must be nonzero");
  return unary_op("softplus", "SoftplusBackward0", UnaryOp::Softplus, x, {beta, threshold},
                  [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams& p) {
                    return where(x * p.a > p.b, g, g * sigmoid(x * p.a));
                  },
                  kInput);
}
Tensor pow(const Tensor& x, Scalar e) {
  check_defined("pow", x);
  bool float_exp = e.is_floating();
  ANNEAL_CHECK(float_exp || is_floating(x.dtype()) || e.to_int() >= 0, ValueError,
               "pow: integers to negative integer powers are not allowed");
  return unary_op("pow", "PowBackward0", UnaryOp::PowScalar, x, {e.to_double(), 0},
                  [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams& p) {
                    if (p.a == 0) return zeros_like(g);
                    return g * pow(x, p.a - 1) * p.a;
                  },
                  kInput, float_exp || is_floating(x.dtype()));
}
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  ANNEAL_CHECK(lo || hi, ValueError, "clamp: at least one of min or max must be given");
  return unary_op("clamp", "ClampBackward1", UnaryOp::Clamp, x, {lo.value_or(kNaN), hi.value_or(kNaN)},
                  [](const Tensor& g, const Tensor& x, const Tensor&, const UnaryParams& p) {
                    Tensor keep = ones_like(x).to(DType::Bool);
                    if (p.a == p.a) keep = logical_and(keep, x >= p.a);
                    if (p.b == p.b) keep = logical_and(keep, x <= p.b);
                    return where(keep, g, 0.0);
                  },
                  kInput, false);
}
Tensor logical_not(const Tensor& x) {
  check_defined("logical_not", x);
  Tensor out = empty_on(x.sizes(), DType::Bool, x.device());
  backend_of(x).unary(UnaryOp::LogicalNot, x, out, {});
  return out;
}
Tensor isnan(const Tensor& x) {
  check_defined("isnan", x);
  Tensor out = empty_on(x.sizes(), DType::Bool, x.device());
  backend_of(x).unary(UnaryOp::IsNan, x, out, {});
  return out;
}

// ---- binary ----
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() != 1.0) return add(a, mul(b, alpha));
  Tensor out = binary_raw(BinaryOp::Add, a, b, "add");
  record("AddBackward0", {a, b}, {out}, [](const TensorList& g) -> TensorList { return {g[0], g[0]}; });
  return out;
}
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() != 1.0) return sub(a, mul(b, alpha));
  ANNEAL_CHECK(!(a.defined() && b.defined() && a.dtype() == DType::Bool && b.dtype() == DType::Bool), TypeError,
               "sub: subtraction with two bool tensors is not supported; use logical_xor or ~");
  Tensor out = binary_raw(BinaryOp::Sub, a, b, "sub");
  record("SubBackward0", {a, b}, {out}, [](const TensorList& g) -> TensorList { return {g[0], neg(g[0])}; });
  return out;
}
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Mul, a, b, "mul");
  if (autograd::any_requires_grad({a, b})) {
    const bool ra = a.requires_grad(), rb = b.requires_grad();
    SavedTensor sa(rb ? a : Tensor(), false), sb(ra ? b : Tensor(), false);
    record("MulBackward0", {a, b}, {out}, [sa, sb, ra, rb](const TensorList& g) -> TensorList {
      return {ra ? g[0] * sb.unpack() : Tensor(), rb ? g[0] * sa.unpack() : Tensor()};
    });
  }
  return out;
}
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Div, a, b, "div", true);
  if (autograd::any_requires_grad({a, b})) {
    SavedTensor sa(a, false), sb(b, false);
    record("DivBackward0", {a, b}, {out}, [sa, sb, rb = b.requires_grad()](const TensorList& g) -> TensorList {
      Tensor bb = sb.unpack();
      return {g[0] / bb, rb ? neg(g[0]) * sa.unpack() / (bb * bb) : Tensor()};
    });
  }
  return out;
}
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Pow, a, b, "pow");
  if (autograd::any_requires_grad({a, b})) {
    SavedTensor sa(a, false), sb(b, false);
    auto so = std::make_shared<SavedTensor>();
    record("PowBackward1", {a, b}, {out}, [sa, sb, so, rb = b.requires_grad()](const TensorList& g) -> TensorList {
      Tensor x = sa.unpack(), e = sb.unpack();
      Tensor ga = g[0] * e * pow(x, e - 1);
      ga = where(e == 0, 0.0, ga);  // d/dx x^0 is 0 even at x = 0
      Tensor gb;
      if (rb) gb = where(logical_and(x == 0, e >= 0), 0.0, g[0] * so->unpack() * log(x));
      return {ga, gb};
    });
    *so = SavedTensor(out, true);
  }
  return out;
}
Tensor pow(Scalar a, const Tensor& b) { return pow(scalar_like(a, b), b); }

static Tensor max_min_binary(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor out = binary_raw(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b, is_max ? "maximum" : "minimum");
  if (autograd::any_requires_grad({a, b})) {
    SavedTensor sa(a, false), sb(b, false);
    record(is_max ? "MaximumBackward0" : "MinimumBackward0", {a, b}, {out}, [sa, sb, is_max](const TensorList& g) -> TensorList {
      Tensor x = sa.unpack(), y = sb.unpack();
      // ties split the gradient in half, as PyTorch does
      Tensor wa = where(x == y, 0.5, (is_max ? x > y : x < y).to(g[0].dtype()));
      return {g[0] * wa, g[0] * (1 - wa)};
    });
  }
  return out;
}
Tensor maximum(const Tensor& a, const Tensor& b) { return max_min_binary(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return max_min_binary(a, b, false); }
Tensor atan2(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Atan2, a, b, "atan2", true);
  if (autograd::any_requires_grad({a, b})) {
    SavedTensor sa(a, false), sb(b, false);
    record("Atan2Backward0", {a, b}, {out}, [sa, sb](const TensorList& g) -> TensorList {
      Tensor x = sa.unpack(), y = sb.unpack();
      Tensor r = x * x + y * y;
      return {g[0] * y / r, neg(g[0]) * x / r};
    });
  }
  return out;
}

#define COMPARE(fn, Op)                                                                         \
  Tensor fn(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Op, a, b, #fn); } \
  Tensor fn(const Tensor& a, Scalar b) { return fn(a, scalar_like(b, a)); }
COMPARE(eq, Eq)
COMPARE(ne, Ne)
COMPARE(lt, Lt)
COMPARE(le, Le)
COMPARE(gt, Gt)
COMPARE(ge, Ge)
#undef COMPARE
Tensor logical_and(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::LogicalAnd, a, b, "logical_and"); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::LogicalOr, a, b, "logical_or"); }

Tensor add(const Tensor& a, Scalar b) { return add(a, scalar_like(b, a)); }
Tensor sub(const Tensor& a, Scalar b) { return sub(a, scalar_like(b, a)); }
Tensor mul(const Tensor& a, Scalar b) { return mul(a, scalar_like(b, a)); }
Tensor div(const Tensor& a, Scalar b) { return div(a, scalar_like(b, a)); }
Tensor maximum(const Tensor& a, Scalar b) { return maximum(a, scalar_like(b, a)); }
Tensor minimum(const Tensor& a, Scalar b) { return minimum(a, scalar_like(b, a)); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", cond, "condition");
  check_defined("where", a, "input");
  check_defined("where", b, "other");
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  ANNEAL_CHECK(cond.dtype() == DType::Bool, TypeError, "where: expected condition to be a bool tensor, got ",
               dtype_name(cond.dtype()));
  DType common = result_type({a, b});
  Shape shape = broadcast_shapes("where", broadcast_shapes("where", cond.sizes(), a.sizes()), b.sizes());
  Tensor out = empty_on(shape, common, a.device());
  backend_of(a).where(expand_raw(cond, shape), expand_raw(cast_raw(a, common), shape),
                      expand_raw(cast_raw(b, common), shape), out);
  if (autograd::any_requires_grad({a, b})) {
    SavedTensor sc(cond, false);
    record("WhereBackward0", {a, b}, {out}, [sc](const TensorList& g) -> TensorList {
      Tensor c = sc.unpack();
      Tensor z = zeros_like(g[0]);
      return {where(c, g[0], z), where(c, z, g[0])};
    });
  }
  return out;
}
Tensor where(const Tensor& cond, const Tensor& a, Scalar b) { return where(cond, a, scalar_like(b, a)); }
Tensor where(const Tensor& cond, Scalar a, const Tensor& b) { return where(cond, scalar_like(a, b), b); }

Tensor lerp(const Tensor& a, const Tensor& b, const Tensor& w) { return a + w * (b - a); }
Tensor lerp(const Tensor& a, const Tensor& b, Scalar w) { return a + (b - a) * w; }
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  check_defined("masked_fill", x);
  check_defined("masked_fill", mask, "mask");
  ANNEAL_CHECK(mask.dtype() == DType::Bool, TypeError, "masked_fill: expected a bool mask, got ",
               dtype_name(mask.dtype()));
  Tensor v = full({}, value, {x.dtype(), x.device()});
  Shape shape = broadcast_shapes("masked_fill", x.sizes(), mask.sizes());
  ANNEAL_CHECK(shape == x.sizes(), ValueError, "masked_fill: mask of shape ", mask.shape_str(),
               " does not broadcast to the input's shape ", x.shape_str());
  return where(mask, v, x);
}
Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi) { return minimum(maximum(x, lo), hi); }

// ---- operators ----
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, b); }
Tensor operator+(Scalar a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(Scalar a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(Scalar a, const Tensor& b) { return div(scalar_like(a, b), b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, Scalar b) { return ne(a, b); }
Tensor operator<(const Tensor& a, Scalar b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, Scalar b) { return le(a, b); }
Tensor operator>(const Tensor& a, Scalar b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, b); }
Tensor operator&&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
Tensor operator||(const Tensor& a, const Tensor& b) { return logical_or(a, b); }
Tensor operator!(const Tensor& a) { return logical_not(a); }

}  // namespace anneal
