#pragma once
// What every CUDA kernel file shares: checked calls, launch geometry, the device types
// behind anneal's dtypes, dtype dispatch, and the strided element loop.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "core/error.h"
#include "runtime/env.h"
#include "core/tensor_impl.h"
#include "kernels/strided_layout.h"

namespace anneal::cuda {

// (A failed call also leaves its error as the thread's last error; it is read off here so
// that the next launch check does not report it again. Sticky errors stay regardless.)
#define ANNEAL_CUDA_CHECK(call, what)                                                                    \
  do {                                                                                                   \
    cudaError_t err__ = (call);                                                                          \
    if (err__ != cudaSuccess) {                                                                          \
      (void)cudaGetLastError();                                                                          \
      throw ::anneal::Error(::anneal::str(what, ": ", #call, " failed: ", cudaGetErrorString(err__)));   \
    }                                                                                                    \
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
#define ANNEAL_CUDA_FLOATING_CASES(CALL)         \
  ANNEAL_CUDA_CASE(Float32, float, CALL)         \
  ANNEAL_CUDA_CASE(Float64, double, CALL)        \
  ANNEAL_CUDA_CASE(Float16, __half, CALL)        \
  ANNEAL_CUDA_CASE(BFloat16, __nv_bfloat16, CALL)
#define ANNEAL_CUDA_DISPATCH_FLOATING(dt, op, CALL)              \
  switch (dt) {                                                 \
    ANNEAL_CUDA_FLOATING_CASES(CALL)                            \
    default: ANNEAL_UNSUPPORTED_DTYPE(::anneal::str("CUDA ", op), dt); \
  }
#define ANNEAL_CUDA_DISPATCH_ALL(dt, op, CALL)   \
  switch (dt) {                                 \
    ANNEAL_CUDA_FLOATING_CASES(CALL)            \
    ANNEAL_CUDA_CASE(Int64, int64_t, CALL)      \
    ANNEAL_CUDA_CASE(Int32, int32_t, CALL)      \
    ANNEAL_CUDA_CASE(UInt8, uint8_t, CALL)      \
    ANNEAL_CUDA_CASE(Bool, bool, CALL)          \
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

// Whether the current stream is being captured into a CUDA graph (see graphs.cu).
inline bool stream_capturing() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  ANNEAL_CUDA_CHECK(cudaStreamIsCapturing(current_stream(), &status), "stream capture status");
  return status == cudaStreamCaptureStatusActive;
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

// Contiguous operands of one element size E (scalars broadcast with stride 0 allowed),
// 16-byte aligned: each thread moves 16 bytes per operand with one 128-bit load/store and
// applies f to the 16/E elements in registers. Broadcast scalars are replicated into their
// register vector once, so every pointer f sees has a compile-time offset into registers.
// Work items past nvec are the tail elements, done one by one.
template <int K, int E, typename F>
__global__ void vectorized_kernel(StridedLayout<K> L, int64_t nvec, int64_t items, F f) {
  constexpr int N = 16 / E;
  uint4 in[K];
#pragma unroll
  for (int k = 1; k < K; ++k) {
    if (L.strides[k][0] != 0) continue;
#pragma unroll
    for (int j = 0; j < N; ++j) memcpy(reinterpret_cast<char*>(&in[k]) + j * E, L.base[k], E);
  }
  for (int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; v < items; v += int64_t(gridDim.x) * blockDim.x) {
    if (v < nvec) {
#pragma unroll
      for (int k = 1; k < K; ++k)
        if (L.strides[k][0] != 0) in[k] = reinterpret_cast<const uint4*>(L.base[k])[v];
      uint4 out;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        char* p[K];
        p[0] = reinterpret_cast<char*>(&out) + j * E;
#pragma unroll
        for (int k = 1; k < K; ++k) p[k] = reinterpret_cast<char*>(&in[k]) + j * E;
        f(p);
      }
      reinterpret_cast<uint4*>(L.base[0])[v] = out;
    } else {
      const int64_t i = nvec * N + (v - nvec);
      char* p[K];
#pragma unroll
      for (int k = 0; k < K; ++k) p[k] = L.base[k] + i * L.strides[k][0];
      f(p);
    }
  }
}

// ANNEAL_CUDA_VECTORIZE=0 turns the 16-byte path off (to measure what it brings).
inline bool vectorize_enabled() {
  static const bool on = env_switch("ANNEAL_CUDA_VECTORIZE", true);
  return on;
}

template <int K>
bool can_vectorize(const StridedLayout<K>& L, int64_t element_size) {
  if (L.ndim != 1 || !vectorize_enabled()) return false;
  if (L.strides[0][0] != element_size) return false;
  for (int k = 0; k < K; ++k) {
    const int64_t s = L.strides[k][0];
    if (s == 0 && k > 0) continue;
    if (s != element_size || reinterpret_cast<uintptr_t>(L.base[k]) % 16 != 0) return false;
  }
  return true;
}

template <int K, int E, typename F>
void launch_vectorized(const StridedLayout<K>& L, F f) {
  const int64_t nvec = L.numel / (16 / E), items = nvec + L.numel % (16 / E);
  vectorized_kernel<K, E><<<blocks_for(items), kThreads, 0, current_stream()>>>(L, nvec, items, f);
}

template <int K, typename F>
void for_each_element(const std::array<const Tensor*, K>& ts, const char* op, F f) {
  StridedLayout<K> L = make_layout<K>(ts);
  if (L.numel == 0) return;
  const int64_t e = ts[0]->element_size();
  bool one_size = true;
  for (const Tensor* t : ts) one_size = one_size && int64_t(t->element_size()) == e;
  if (one_size && can_vectorize<K>(L, e)) {
    switch (e) {
      case 1: launch_vectorized<K, 1>(L, f); break;
      case 2: launch_vectorized<K, 2>(L, f); break;
      case 4: launch_vectorized<K, 4>(L, f); break;
      default: launch_vectorized<K, 8>(L, f); break;
    }
  } else if (L.ndim <= 1) {
    flat_kernel<K><<<blocks_for(L.numel), kThreads, 0, current_stream()>>>(L, f);
  } else {
    strided_kernel<K><<<blocks_for(L.numel), kThreads, 0, current_stream()>>>(L, f);
  }
  check_launch(op);
}

}  // namespace anneal::cuda
