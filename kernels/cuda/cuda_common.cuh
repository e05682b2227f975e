#pragma once
// What every CUDA kernel file shares: checked calls, launch geometry, the device types
// behind anneal's dtypes, dtype dispatch, and the strided element loop.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "kernels/strided_layout.h"

namespace anneal::cuda {

#define ANNEAL_CUDA_CHECK(call, what)                                                                  \
  do {                                                                                                 \
    cudaError_t err__ = (call);                                                                        \
    if (err__ != cudaSuccess)                                                                          \
      throw ::anneal::Error(::anneal::str(what, ": ", #call, " failed: ", cudaGetErrorString(err__))); \
  } while (0)

// After a launch: a bad configuration shows up here at once; faults inside the kernel
// surface at the next synchronising call (ANNEAL_CUDA_SYNC_CHECKS=1 makes every launch
// synchronise, for debugging).
void check_launch(const char* op);

// The calling thread's current stream on the current device (the default stream unless a
// CudaStreamGuard chose another); every launch, copy and cuBLAS call goes there.
cudaStream_t current_stream();

// Makes `device` current for the scope, restoring the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));  // grid-stride loops cover the rest
}

// The type kernels compute in for each stored type (half types compute in float).
template <typename T> struct Compute { using type = T; };
template <> struct Compute<__half> { using type = float; };
template <> struct Compute<__nv_bfloat16> { using type = float; };
template <typename T> using compute_of = typename Compute<T>::type;

template <typename T>
__device__ __forceinline__ compute_of<T> load_c(const T& v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v);
  else return v;
}
template <typename T, typename C>
__device__ __forceinline__ T store_c(C v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half(float(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16(float(v));
  else return T(v);
}

// Runs CALL with T the device type of `dt` (an extended __device__ lambda may not sit
// in a generic lambda, so dispatch is a switch around a call of a function template).
#define ANNEAL_CUDA_CASE(D, TYPE, CALL) \
  case ::anneal::DType::D: {            \
    using T = TYPE;                     \
    CALL;                               \
    break;                              \
  }
#define ANNEAL_CUDA_DISPATCH_FLOATING(dt, op, CALL)                                                      \
  switch (dt) {                                                                                         \
    ANNEAL_CUDA_CASE(Float32, float, CALL)                                                              \
    ANNEAL_CUDA_CASE(Float64, double, CALL)                                                             \
    ANNEAL_CUDA_CASE(Float16, __half, CALL)                                                             \
    ANNEAL_CUDA_CASE(BFloat16, __nv_bfloat16, CALL)                                                     \
    default:                                                                                            \
      throw ::anneal::TypeError(::anneal::str("CUDA ", op, ": expected a floating dtype, got ", dtype_name(dt))); \
  }
#define ANNEAL_CUDA_DISPATCH_ALL(dt, op, CALL)                                                          \
  switch (dt) {                                                                                         \
    ANNEAL_CUDA_CASE(Float32, float, CALL)                                                              \
    ANNEAL_CUDA_CASE(Float64, double, CALL)                                                             \
    ANNEAL_CUDA_CASE(Float16, __half, CALL)                                                             \
    ANNEAL_CUDA_CASE(BFloat16, __nv_bfloat16, CALL)                                                     \
    ANNEAL_CUDA_CASE(Int64, int64_t, CALL)                                                              \
    ANNEAL_CUDA_CASE(Int32, int32_t, CALL)                                                              \
    ANNEAL_CUDA_CASE(UInt8, uint8_t, CALL)                                                              \
    ANNEAL_CUDA_CASE(Bool, bool, CALL)                                                                  \
  }

// Combines one value per thread of the block with f (associative); every thread gets the
// result. Needs blockDim.x a multiple of 32, at most 1024; synchronises the block.
template <typename A, typename F>
__device__ __forceinline__ A block_reduce(A v, F f, A identity) {
  __shared__ A partial[32];
  for (int offset = 16; offset > 0; offset >>= 1) v = f(v, A(__shfl_down_sync(0xffffffffu, v, offset)));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // a previous call's readers are done with partial
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x / 32) ? partial[lane] : identity;
    for (int offset = 16; offset > 0; offset >>= 1) v = f(v, A(__shfl_down_sync(0xffffffffu, v, offset)));
    if (lane == 0) partial[0] = v;
  }
  __syncthreads();
  return partial[0];
}

template <typename T>
T* ptr(const Tensor& t) {
  return reinterpret_cast<T*>(t.impl()->data());
}

// f(char* p[K]) for every element of K same-shape operands (byte strides, any layout).
template <int K, typename F>
__global__ void strided_kernel(StridedLayout<K> L, F f) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < L.numel; i += int64_t(gridDim.x) * blockDim.x) {
    char* p[K];
#pragma unroll
    for (int k = 0; k < K; ++k) p[k] = L.base[k];
    int64_t rem = i;
    for (int d = L.ndim - 1; d >= 0; --d) {
      const int64_t idx = rem % L.sizes[d];
      rem /= L.sizes[d];
#pragma unroll
      for (int k = 0; k < K; ++k) p[k] += idx * L.strides[k][d];
    }
    f(p);
  }
}

// The common case: after merging, one dim (contiguous operands, scalars broadcast with
// stride 0): pointers advance by a multiply, no index division per element.
template <int K, typename F>
__global__ void flat_kernel(StridedLayout<K> L, F f) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < L.numel; i += int64_t(gridDim.x) * blockDim.x) {
    char* p[K];
#pragma unroll
    for (int k = 0; k < K; ++k) p[k] = L.base[k] + (L.ndim == 1 ? i * L.strides[k][0] : 0);
    f(p);
  }
}

template <int K, typename F>
void for_each_element(const std::array<const Tensor*, K>& ts, const char* op, F f) {
  StridedLayout<K> L = make_layout<K>(ts);
  if (L.numel == 0) return;
  if (L.ndim <= 1) flat_kernel<K><<<blocks_for(L.numel), kThreads, 0, current_stream()>>>(L, f);
  else strided_kernel<K><<<blocks_for(L.numel), kThreads, 0, current_stream()>>>(L, f);
  check_launch(op);
}

}  // namespace anneal::cuda
