// Elementwise kernels: fill, copy/convert, unary, binary, where.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/elementwise_math.h"
#include "kernels/cpu/loops.h"
#include "runtime/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace anneal::cpu {
namespace {

template <typename T>
inline T& at(char* p, int64_t i, int64_t stride) {
  return *reinterpret_cast<T*>(p + i * stride);
}

// out = f(in) over two same-shape operands, with a contiguous fast path.
template <typename TO, typename TI, typename F>
void map1(const Tensor& out, const Tensor& in, const F& f) {
  for_each_strided<2>({&out, &in}, [&](char** p, const int64_t* s, int64_t n) {
    if (s[0] == int64_t(sizeof(TO)) && s[1] == int64_t(sizeof(TI))) {
      TO* o = reinterpret_cast<TO*>(p[0]);
      const TI* a = reinterpret_cast<const TI*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) at<TO>(p[0], i, s[0]) = f(at<TI>(p[1], i, s[1]));
    }
  });
}

template <typename TO, typename TI, typename F>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, const F& f) {
  for_each_strided<3>({&out, &a, &b}, [&](char** p, const int64_t* s, int64_t n) {
    constexpr int64_t so = sizeof(TO), si = sizeof(TI);
    TO* o = reinterpret_cast<TO*>(p[0]);
    const TI* x = reinterpret_cast<const TI*>(p[1]);
    const TI* y = reinterpret_cast<const TI*>(p[2]);
    if (s[0] == so && s[1] == si && s[2] == si) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == so && s[1] == si && s[2] == 0) {
      const TI yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == so && s[1] == 0 && s[2] == si) {
      const TI xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) at<TO>(p[0], i, s[0]) = f(at<TI>(p[1], i, s[1]), at<TI>(p[2], i, s[2]));
    }
  });
}

// The math policy of kernels/elementwise_math.h on the CPU: float computations use the
// vectorisable exp/erf (fast_math.h); double keeps the library's.
__attribute__((always_inline)) inline float gelu_erf(float x) { return fast_erff(x); }
inline double gelu_erf(double x) { return std::erf(x); }
struct CpuMath {
  template <class C> ANNEAL_FORCE_INLINE static C exp(C x) { return exp_of(x); }
  template <class C> ANNEAL_FORCE_INLINE static C erf(C x) { return gelu_erf(x); }
  template <class C> ANNEAL_FORCE_INLINE static C tanh(C x) { return std::tanh(x); }
  template <class C> ANNEAL_FORCE_INLINE static C log1p(C x) { return std::log1p(x); }
};


template <typename T>
void unary_floating(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p) {
  using C = compute_t<T>;
  auto run = [&](auto f) { map1<T, T>(out, in, [&](T v) { return T(f(C(v))); }); };
  const C a = C(p.a), b = C(p.b);
  switch (op) {
    case UnaryOp::Neg: return run([](C x) { return -x; });
    case UnaryOp::Abs: return run([](C x) { return std::abs(x); });
    case UnaryOp::Exp: return run([](C x) { return exp_of(x); });
    case UnaryOp::Expm1: return run([](C x) { return std::expm1(x); });
    case UnaryOp::Log: return run([](C x) { return std::log(x); });
    case UnaryOp::Log1p: return run([](C x) { return std::log1p(x); });
    case UnaryOp::Sqrt: return run([](C x) { return std::sqrt(x); });
    case UnaryOp::Rsqrt: return run([](C x) { return C(1) / std::sqrt(x); });
    case UnaryOp::Reciprocal: return run([](C x) { return C(1) / x; });
    case UnaryOp::Square: return run([](C x) { return x * x; });
    case UnaryOp::Sin: return run([](C x) { return std::sin(x); });
    case UnaryOp::Cos: return run([](C x) { return std::cos(x); });
    case UnaryOp::Tanh: return run([](C x) { return std::tanh(x); });
    case UnaryOp::Sigmoid: return run([](C x) { return math::sigmoid<CpuMath>(x); });
    case UnaryOp::Relu: return run([](C x) { return math::relu(x); });
    case UnaryOp::LeakyRelu: return run([a](C x) { return math::leaky_relu(x, a); });
    case UnaryOp::Gelu: return run([](C x) { return math::gelu<CpuMath>(x); });
    case UnaryOp::GeluGrad: return run([](C x) { return math::gelu_grad<CpuMath>(x); });
    case UnaryOp::GeluTanh: return run([](C x) { return math::gelu_tanh<CpuMath>(x); });
    case UnaryOp::Silu: return run([](C x) { return math::silu<CpuMath>(x); });
    case UnaryOp::Softplus: return run([a, b](C x) { return math::softplus<CpuMath>(x, a, b); });
    case UnaryOp::Sign: return run([](C x) { return math::sign(x); });
    case UnaryOp::PowScalar:
      if (p.a == 2.0) return run([](C x) { return x * x; });
      if (p.a == 0.5) return run([](C x) { return std::sqrt(x); });
      return run([a](C x) { return std::pow(x, a); });
    case UnaryOp::Clamp: return run([a, b](C x) { return math::clamp(x, a, b); });
    case UnaryOp::Floor: return run([](C x) { return std::floor(x); });
    case UnaryOp::Ceil: return run([](C x) { return std::ceil(x); });
    case UnaryOp::Round: return run([](C x) { return std::nearbyint(x); });
    case UnaryOp::Erf: return run([](C x) { return std::erf(x); });
    default: break;
  }
  throw TypeError(str(math::unary_op_name(op), " is not supported for dtype ", dtype_name(in.dtype())));
}

template <typename T>
void unary_integral(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p) {
  auto run = [&](auto f) { map1<T, T>(out, in, [&](T v) { return T(f(v)); }); };
  switch (op) {
    case UnaryOp::Neg: return run([](T x) { return T(-x); });
    case UnaryOp::Abs: return run([](T x) { return x < T(0) ? T(-x) : x; });
    case UnaryOp::Square: return run([](T x) { return T(x * x); });
    case UnaryOp::Relu: return run([](T x) { return x > T(0) ? x : T(0); });
    case UnaryOp::Sign: return run([](T x) { return T((T(0) < x) - (x < T(0))); });
    case UnaryOp::Floor:
    case UnaryOp::Ceil:
    case UnaryOp::Round: return run([](T x) { return x; });
    case UnaryOp::Clamp: {
      bool has_lo = p.a == p.a, has_hi = p.b == p.b;
      T lo = has_lo ? T(p.a) : T(0), hi = has_hi ? T(p.b) : T(0);
      return run([=](T x) { return has_lo && x < lo ? lo : (has_hi && x > hi ? hi : x); });
    }
    case UnaryOp::PowScalar: {
      int64_t e = int64_t(p.a);
      return run([e](T x) {
        T r = 1, base = x;
        for (int64_t k = e; k > 0; k >>= 1, base = T(base * base))
          if (k & 1) r = T(r * base);
        return r;
      });
    }
    default: break;
  }
  throw TypeError(str(math::unary_op_name(op), " is not supported for dtype ", dtype_name(in.dtype())));
}

}  // namespace

void CpuBackend::fill(const Tensor& out, Scalar value) {
  ANNEAL_DISPATCH_ALL(out.dtype(), "fill", [&] {
    const scalar_t v = value.is_floating() ? scalar_t(compute_t<scalar_t>(value.to_double()))
                                           : scalar_t(compute_t<scalar_t>(value.to_int()));
    for_each_strided<1>({&out}, [&](char** p, const int64_t* s, int64_t n) {
      if (s[0] == int64_t(sizeof(scalar_t))) {
        scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) at<scalar_t>(p[0], i, s[0]) = v;
      }
    });
  });
}

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    const size_t n = dst.nbytes();
    char* d = static_cast<char*>(dst.data_ptr());
    const char* s = static_cast<const char*>(src.data_ptr());
    parallel_for(int64_t(n), int64_t(1) << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, size_t(e - b)); });
    return;
  }
  ANNEAL_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using TO = scalar_t;
    ANNEAL_DISPATCH_ALL(src.dtype(), "copy", [&] {
      using TI = scalar_t;
      map1<TO, TI>(dst, src, [](TI v) {
        if constexpr (std::is_same_v<TO, bool>) return TO(compute_t<TI>(v) != compute_t<TI>(0));
        else return TO(compute_t<TO>(compute_t<TI>(v)));
      });
    });
  });
}

namespace {
// Contiguous float32 exp / sigmoid / GELU / GELU' as plain loops the compiler vectorises
// (this file builds with -fno-trapping-math so the selects in fast_math.h if-convert),
// cloned for AVX-512 and AVX2 and picked at load time.
ANNEAL_SIMD_CLONES void exp_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fast_expf(x[i]);
}
ANNEAL_SIMD_CLONES void sigmoid_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = math::sigmoid<CpuMath>(x[i]);
}
ANNEAL_SIMD_CLONES void gelu_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = math::gelu<CpuMath>(x[i]);
}
ANNEAL_SIMD_CLONES void gelu_grad_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = math::gelu_grad<CpuMath>(x[i]);
}

bool unary_float_simd(UnaryOp op, const Tensor& in, const Tensor& out) {
  if (in.dtype() != DType::Float32 || !in.is_contiguous() || !out.is_contiguous()) return false;
  void (*loop)(const float*, float*, int64_t) = op == UnaryOp::Exp       ? exp_loop
                                                : op == UnaryOp::Sigmoid  ? sigmoid_loop
                                                : op == UnaryOp::Gelu     ? gelu_loop
                                                : op == UnaryOp::GeluGrad ? gelu_grad_loop
                                                                          : nullptr;
  if (!loop) return false;
  const float* x = in.data_ptr<float>();
  float* y = out.data_ptr<float>();
  parallel_for(in.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) { loop(x + b, y + b, e - b); });
  return true;
}
}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p) {
  if (unary_float_simd(op, in, out)) return;
  if (op == UnaryOp::IsNan || op == UnaryOp::LogicalNot) {
    ANNEAL_DISPATCH_ALL(in.dtype(), "unary", [&] {
      using C = compute_t<scalar_t>;
      if (op == UnaryOp::IsNan) map1<bool, scalar_t>(out, in, [](scalar_t v) { return C(v) != C(v); });
      else map1<bool, scalar_t>(out, in, [](scalar_t v) { return !(C(v) != C(0)); });
    });
    return;
  }
  DType d = in.dtype();
  if (is_floating(d)) {
    ANNEAL_DISPATCH_FLOATING(d, "unary", [&] { unary_floating<scalar_t>(op, in, out, p); });
  } else {
    ANNEAL_DISPATCH_NUMERIC(d, "unary", [&] {
      if constexpr (!std::is_same_v<scalar_t, float> && !std::is_same_v<scalar_t, double> &&
                    !std::is_same_v<scalar_t, Half> && !std::is_same_v<scalar_t, BFloat16>)
        unary_integral<scalar_t>(op, in, out, p);
    });
  }
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  ANNEAL_DISPATCH_ALL(a.dtype(), "binary", [&] {
    using T = scalar_t;
    using C = compute_t<T>;
    constexpr bool is_float = std::is_floating_point_v<C>;
    auto arith = [&](auto f) { map2<T, T>(out, a, b, [&](T x, T y) { return T(f(C(x), C(y))); }); };
    auto cmp = [&](auto f) { map2<bool, T>(out, a, b, [&](T x, T y) { return bool(f(C(x), C(y))); }); };
    switch (op) {
      case BinaryOp::Add: return arith([](C x, C y) { return x + y; });
      case BinaryOp::Sub: return arith([](C x, C y) { return x - y; });
      case BinaryOp::Mul: return arith([](C x, C y) { return x * y; });
      case BinaryOp::Div:
        if constexpr (is_float) return arith([](C x, C y) { return x / y; });
        else return arith([](C x, C y) { return math::int_div(x, y); });
      case BinaryOp::Pow:
        if constexpr (is_float) return arith([](C x, C y) { return std::pow(x, y); });
        else return arith([](C x, C y) { return math::int_pow(x, y); });
      case BinaryOp::Maximum:
        if constexpr (is_float) return arith([](C x, C y) { return math::maximum_nan(x, y); });
        else return arith([](C x, C y) { return x > y ? x : y; });
      case BinaryOp::Minimum:
        if constexpr (is_float) return arith([](C x, C y) { return math::minimum_nan(x, y); });
        else return arith([](C x, C y) { return x < y ? x : y; });
      case BinaryOp::Atan2:
        if constexpr (is_float) return arith([](C x, C y) { return std::atan2(x, y); });
        else break;
      case BinaryOp::ReluGrad: return arith([](C g, C y) { return math::relu_grad(g, y); });
      case BinaryOp::Eq: return cmp([](C x, C y) { return x == y; });
      case BinaryOp::Ne: return cmp([](C x, C y) { return x != y; });
      case BinaryOp::Lt: return cmp([](C x, C y) { return x < y; });
      case BinaryOp::Le: return cmp([](C x, C y) { return x <= y; });
      case BinaryOp::Gt: return cmp([](C x, C y) { return x > y; });
      case BinaryOp::Ge: return cmp([](C x, C y) { return x >= y; });
      case BinaryOp::LogicalAnd: return cmp([](C x, C y) { return x != C(0) && y != C(0); });
      case BinaryOp::LogicalOr: return cmp([](C x, C y) { return x != C(0) || y != C(0); });
    }
    throw TypeError(str(math::binary_op_name(op), " is not supported for dtype ", dtype_name(a.dtype())));
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  ANNEAL_DISPATCH_ALL(a.dtype(), "where", [&] {
    using T = scalar_t;
    for_each_strided<4>({&out, &cond, &a, &b}, [&](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        at<T>(p[0], i, s[0]) = at<bool>(p[1], i, s[1]) ? at<T>(p[2], i, s[2]) : at<T>(p[3], i, s[3]);
    });
  });
}

}  // namespace anneal::cpu
