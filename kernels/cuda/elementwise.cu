// Elementwise CUDA kernels: fill, copy/convert, unary, binary, where, arange and the
// Philox random fills (the same counter scheme as the CPU, so the same seed gives the
// same numbers on either device). The math mirrors kernels/cpu/elementwise.cpp.
#include <cmath>
#include <limits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/elementwise_math.h"
#include "core/philox.h"

namespace anneal::cuda {

namespace {

template <typename T>
__device__ __forceinline__ T& at(char* p) {
  return *reinterpret_cast<T*>(p);
}

// The math policy of kernels/elementwise_math.h on the device: the CUDA math library's.
struct DeviceMath {
  template <class C> __host__ __device__ static C exp(C x) { return std::exp(x); }
  template <class C> __host__ __device__ static C erf(C x) { return std::erf(x); }
  template <class C> __host__ __device__ static C tanh(C x) { return std::tanh(x); }
  template <class C> __host__ __device__ static C log1p(C x) { return std::log1p(x); }
};

template <typename C>
__device__ __forceinline__ C unary_float(UnaryOp op, C x, C a, C b) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Expm1: return std::expm1(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Log1p: return std::log1p(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return C(1) / std::sqrt(x);
    case UnaryOp::Reciprocal: return C(1) / x;
    case UnaryOp::Square: return x * x;
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return math::sigmoid<DeviceMath>(x);
    case UnaryOp::Relu: return math::relu(x);
    case UnaryOp::LeakyRelu: return math::leaky_relu(x, a);
    case UnaryOp::Gelu: return math::gelu<DeviceMath>(x);
    case UnaryOp::GeluGrad: return math::gelu_grad<DeviceMath>(x);
    case UnaryOp::GeluTanh: return math::gelu_tanh<DeviceMath>(x);
    case UnaryOp::Silu: return math::silu<DeviceMath>(x);
    case UnaryOp::Softplus: return math::softplus<DeviceMath>(x, a, b);
    case UnaryOp::Sign: return math::sign(x);
    case UnaryOp::PowScalar: return a == C(2) ? x * x : (a == C(0.5) ? std::sqrt(x) : std::pow(x, a));
    case UnaryOp::Clamp: return math::clamp(x, a, b);
    case UnaryOp::Floor: return std::floor(x);
    case UnaryOp::Ceil: return std::ceil(x);
    case UnaryOp::Round: return std::nearbyint(x);
    case UnaryOp::Erf: return std::erf(x);
    default: return x;  // LogicalNot / IsNan are routed elsewhere by the host
  }
}

template <typename T>
__device__ __forceinline__ T unary_integral(UnaryOp op, T x, bool has_lo, T lo, bool has_hi, T hi, int64_t e) {
  switch (op) {
    case UnaryOp::Neg: return T(-x);
    case UnaryOp::Abs: return x < T(0) ? T(-x) : x;
    case UnaryOp::Square: return T(x * x);
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Sign: return T((T(0) < x) - (x < T(0)));
    case UnaryOp::Clamp: return has_lo && x < lo ? lo : (has_hi && x > hi ? hi : x);
    case UnaryOp::PowScalar: {
      T r = 1, base = x;
      for (int64_t k = e; k > 0; k >>= 1, base = T(base * base))
        if (k & 1) r = T(r * base);
      return r;
    }
    default: return x;  // Floor / Ceil / Round of an integer
  }
}

bool float_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Square: case UnaryOp::Relu: case UnaryOp::Sign:
    case UnaryOp::Clamp: case UnaryOp::PowScalar: case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round:
      return false;
    default: return true;
  }
}

}  // namespace

namespace {

template <typename T>
void fill_impl(const Tensor& out, Scalar value) {
  using C = compute_of<T>;
  const C v = value.is_floating() ? C(value.to_double()) : C(value.to_int());
  for_each_element<1>({&out}, "fill", [v] __device__(char** p) { at<T>(p[0]) = store_c<T>(v); });
}

template <typename TO, typename TI>
void copy_impl(const Tensor& dst, const Tensor& src) {
  for_each_element<2>({&dst, &src}, "copy", [] __device__(char** p) {
    const auto v = load_c<TI>(at<TI>(p[1]));
    if constexpr (std::is_same_v<TO, bool>) at<TO>(p[0]) = v != decltype(v)(0);
    else at<TO>(p[0]) = store_c<TO>(compute_of<TO>(v));
  });
}

template <typename TO>
void copy_from(const Tensor& dst, const Tensor& src) {
  ANNEAL_CUDA_DISPATCH_ALL(src.dtype(), "copy", (copy_impl<TO, T>(dst, src)));
}

template <typename T>
void bool_unary_impl(UnaryOp op, const Tensor& in, const Tensor& out) {
  const bool isnan_op = op == UnaryOp::IsNan;
  for_each_element<2>({&out, &in}, "unary", [isnan_op] __device__(char** p) {
    const auto v = load_c<T>(at<T>(p[1]));
    at<bool>(p[0]) = isnan_op ? (v != v) : (v == decltype(v)(0));
  });
}

template <typename T>
void float_unary_impl(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams prm) {
  using C = compute_of<T>;
  const C a = C(prm.a), b = C(prm.b);
  for_each_element<2>({&out, &in}, "unary", [op, a, b] __device__(char** p) {
    at<T>(p[0]) = store_c<T>(unary_float<C>(op, load_c<T>(at<T>(p[1])), a, b));
  });
}

template <typename T>
void integral_unary_impl(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams prm) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    const bool has_lo = prm.a == prm.a, has_hi = prm.b == prm.b;
    const T lo = has_lo ? T(prm.a) : T(0), hi = has_hi ? T(prm.b) : T(0);
    const int64_t e = int64_t(prm.a);
    for_each_element<2>({&out, &in}, "unary", [op, has_lo, lo, has_hi, hi, e] __device__(char** p) {
      at<T>(p[0]) = unary_integral<T>(op, at<T>(p[1]), has_lo, lo, has_hi, hi, e);
    });
  } else {
    throw TypeError(str(math::unary_op_name(op), " is not supported for dtype ", dtype_name(in.dtype())));
  }
}

}  // namespace

void CudaBackend::fill(const Tensor& out, Scalar value) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(out.dtype(), "fill", (fill_impl<T>(out, value)));
}

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  DeviceGuard device_guard(device_);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    ANNEAL_CUDA_CHECK(cudaMemcpyAsync(dst.impl()->data(), src.impl()->data(), dst.nbytes(), cudaMemcpyDeviceToDevice,
                                    current_stream()),
                      "copy");
    return;
  }
  ANNEAL_CUDA_DISPATCH_ALL(dst.dtype(), "copy", (copy_from<T>(dst, src)));
}

void CudaBackend::unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams prm) {
  DeviceGuard device_guard(device_);
  if (op == UnaryOp::IsNan || op == UnaryOp::LogicalNot) {  // these write bool
    ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "unary", (bool_unary_impl<T>(op, in, out)));
    return;
  }
  if (is_floating(in.dtype())) {
    ANNEAL_CUDA_DISPATCH_FLOATING(in.dtype(), "unary", (float_unary_impl<T>(op, in, out, prm)));
    return;
  }
  ANNEAL_CHECK(!float_only(op), TypeError, math::unary_op_name(op), " is not supported for dtype ", dtype_name(in.dtype()));
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "unary", (integral_unary_impl<T>(op, in, out, prm)));
}

namespace {

template <typename C, bool kFloat>
__device__ __forceinline__ C binary_arith(BinaryOp op, C x, C y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div:
      if constexpr (kFloat) return x / y;
      else return math::int_div(x, y);
    case BinaryOp::Pow:
      if constexpr (kFloat) return std::pow(x, y);
      else return math::int_pow(x, y);
    case BinaryOp::Maximum:
      if constexpr (kFloat) return math::maximum_nan(x, y);
      else return x > y ? x : y;
    case BinaryOp::Minimum:
      if constexpr (kFloat) return math::minimum_nan(x, y);
      else return x < y ? x : y;
    case BinaryOp::Atan2:
      if constexpr (kFloat) return std::atan2(x, y);
      else return C(0);
    case BinaryOp::ReluGrad: return math::relu_grad(x, y);
    default: return C(0);
  }
}

template <typename C>
__device__ __forceinline__ bool binary_cmp(BinaryOp op, C x, C y) {
  switch (op) {
    case BinaryOp::Eq: return x == y;
    case BinaryOp::Ne: return x != y;
    case BinaryOp::Lt: return x < y;
    case BinaryOp::Le: return x <= y;
    case BinaryOp::Gt: return x > y;
    case BinaryOp::Ge: return x >= y;
    case BinaryOp::LogicalAnd: return x != C(0) && y != C(0);
    case BinaryOp::LogicalOr: return x != C(0) || y != C(0);
    default: return false;
  }
}

template <typename T>
void binary_impl(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using C = compute_of<T>;
  constexpr bool kFloat = std::is_floating_point_v<C>;
  if (is_comparison(op)) {
    for_each_element<3>({&out, &a, &b}, "binary", [op] __device__(char** p) {
      at<bool>(p[0]) = binary_cmp<C>(op, load_c<T>(at<T>(p[1])), load_c<T>(at<T>(p[2])));
    });
    return;
  }
  ANNEAL_CHECK(kFloat || op != BinaryOp::Atan2, TypeError, "binary op atan2 is not supported for dtype ",
               dtype_name(a.dtype()));
  for_each_element<3>({&out, &a, &b}, "binary", [op] __device__(char** p) {
    at<T>(p[0]) = store_c<T>(binary_arith<C, kFloat>(op, load_c<T>(at<T>(p[1])), load_c<T>(at<T>(p[2]))));
  });
}

template <typename T>
void where_impl(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  for_each_element<4>({&out, &cond, &a, &b}, "where", [] __device__(char** p) {
    at<T>(p[0]) = at<bool>(p[1]) ? at<T>(p[2]) : at<T>(p[3]);
  });
}

// Kernels that need the flat index of a contiguous output.
template <typename T, typename F>
__global__ void indexed_kernel(T* out, int64_t n, F f) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = f(i);
}

template <typename T>
void arange_impl(const Tensor& out, double start, double step) {
  if constexpr (std::is_same_v<T, bool>) {
    throw TypeError("arange: bool output is not supported");
  } else {
    const int64_t n = out.numel();
    if (n == 0) return;
    const int64_t istart = int64_t(start), istep = int64_t(step);
    indexed_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(out), n, [istart, istep, start, step] __device__(int64_t i) {
      if constexpr (std::is_integral_v<T>) return T(istart + i * istep);
      else return store_c<T>(compute_of<T>(start + double(i) * step));
    });
    check_launch("arange");
  }
}

template <typename T>
void uniform_impl(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  const int64_t n = out.numel();
  if (n == 0) return;
  indexed_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(out), n, [seed, offset, lo, hi] __device__(int64_t i) {
    if constexpr (std::is_same_v<T, double>) {
      // two words per double: element i uses lanes (2*(i%2), 2*(i%2)+1) of block i/2
      philox::U32x4 r = philox::philox4x32_10(offset + uint64_t(i) / 2, seed);
      const int l = int(i % 2) * 2;
      return lo + (hi - lo) * philox::to_unit_double(r.v[l], r.v[l + 1]);
    } else {
      const float u = philox::uniform_at(seed, offset, i);
      return store_c<T>(float(lo + (hi - lo) * double(u)));
    }
  });
  check_launch("uniform_");
}

template <typename T>
void normal_impl(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  const int64_t n = out.numel();
  if (n == 0) return;
  indexed_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(out), n, [seed, offset, mean, std] __device__(int64_t i) {
    return store_c<T>(compute_of<T>(mean + std * double(philox::normal_at(seed, offset, i))));
  });
  check_launch("normal_");
}

}  // namespace

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(a.dtype(), "binary", (binary_impl<T>(op, a, b, out)));
}
void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(a.dtype(), "where", (where_impl<T>(cond, a, b, out)));
}
void CudaBackend::arange(const Tensor& out, double start, double step) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(out.dtype(), "arange", (arange_impl<T>(out, start, step)));
}
// The seed and counter offset are frozen into a captured graph: every replay would draw
// the same numbers, so capture refuses random ops rather than repeat a dropout mask.
static void check_not_capturing_random(const char* op) {
  ANNEAL_CHECK(!stream_capturing(), NotImplementedError, "CUDA ", op,
               ": random numbers inside a CUDA graph capture would repeat on every replay; draw them outside the "
               "graph (into a static input) or leave dropout out of the captured step");
}

void CudaBackend::random_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  DeviceGuard device_guard(device_);
  check_not_capturing_random("uniform_");
  ANNEAL_CUDA_DISPATCH_FLOATING(out.dtype(), "uniform_", (uniform_impl<T>(out, seed, offset, lo, hi)));
}
void CudaBackend::random_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  DeviceGuard device_guard(device_);
  check_not_capturing_random("normal_");
  ANNEAL_CUDA_DISPATCH_FLOATING(out.dtype(), "normal_", (normal_impl<T>(out, seed, offset, mean, std)));
}

}  // namespace anneal::cuda
