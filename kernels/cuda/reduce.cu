// Reductions over the middle dim of a contiguous [outer, r, inner] tensor (the contract
// of Backend::reduce). Rows (inner == 1): one block per row, warp shuffles then shared
// memory. Columns (inner > 1): one thread per output walks r, reads coalesced across i.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/reduce_combine.h"

namespace anneal::cuda {
namespace {

template <typename T> struct Acc { using type = compute_of<T>; };
template <> struct Acc<int32_t> { using type = int64_t; };
template <> struct Acc<int64_t> { using type = int64_t; };
template <> struct Acc<uint8_t> { using type = int64_t; };
template <> struct Acc<bool> { using type = int64_t; };

template <typename A>
__device__ __forceinline__ bool is_nan(A v) {
  return reduce_is_nan(v);
}
template <typename A>
__device__ __forceinline__ A identity(ReduceOp op) {
  return reduce_identity<A>(op);
}
template <typename A>
__device__ __forceinline__ A combine(ReduceOp op, A acc, A v) {
  return reduce_combine(op, acc, v);
}

template <typename T, typename A>
__device__ __forceinline__ void store(void* out, bool to_bool, int64_t idx, A v) {
  if (to_bool) static_cast<bool*>(out)[idx] = v != A(0);
  else static_cast<T*>(out)[idx] = store_c<T>(compute_of<T>(v));
}

template <typename T, typename A>
__global__ void reduce_rows_kernel(ReduceOp op, const T* x, void* out, bool to_bool, int64_t outer, int64_t r) {
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* row = x + o * r;
    A acc = identity<A>(op);
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) acc = combine(op, acc, A(load_c<T>(row[j])));
    acc = block_reduce(acc, [op] __device__(A u, A v) { return combine(op, u, v); }, identity<A>(op));
    if (threadIdx.x == 0) store<T, A>(out, to_bool, o, acc);
  }
}

template <typename T, typename A>
__global__ void reduce_cols_kernel(ReduceOp op, const T* x, void* out, bool to_bool, int64_t outer, int64_t r,
                                   int64_t inner) {
  const int64_t n = outer * inner;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < n; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = p / inner, i = p % inner;
    const T* base = x + o * r * inner + i;
    A acc = identity<A>(op);
    for (int64_t j = 0; j < r; ++j) acc = combine(op, acc, A(load_c<T>(base[j * inner])));
    store<T, A>(out, to_bool, p, acc);
  }
}

template <typename T>
__global__ void reduce_arg_kernel(bool is_max, const T* x, int64_t* out, int64_t outer, int64_t r, int64_t inner) {
  using C = compute_of<T>;
  const int64_t n = outer * inner;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < n; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = p / inner, i = p % inner;
    const T* base = x + o * r * inner + i;
    C best = load_c<T>(base[0]);
    int64_t best_j = 0;
    for (int64_t j = 1; j < r && !is_nan(best); ++j) {  // the first NaN wins, else the first extreme
      const C v = load_c<T>(base[j * inner]);
      if (is_nan(v) || (is_max ? v > best : v < best)) {
        best = v;
        best_j = j;
      }
    }
    out[p] = best_j;
  }
}

template <typename T>
void reduce_impl(ReduceOp op, const Tensor& in, const Tensor& out) {
  const int64_t outer = in.size(0), r = in.size(1), inner = in.size(2);
  if (outer * inner == 0) return;
  const T* x = ptr<T>(in);
  if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) {
    reduce_arg_kernel<T><<<blocks_for(outer * inner), kThreads, 0, current_stream()>>>(op == ReduceOp::ArgMax, x, ptr<int64_t>(out), outer,
                                                                  r, inner);
    check_launch("argmax/argmin");
    return;
  }
  using A = typename Acc<T>::type;
  const bool to_bool = out.dtype() == DType::Bool;
  if (inner == 1 && r >= 64) {
    const unsigned grid = unsigned(outer < 65535 * 4 ? outer : 65535 * 4);
    reduce_rows_kernel<T, A><<<grid, kThreads, 0, current_stream()>>>(op, x, out.impl()->data(), to_bool, outer, r);
  } else {
    reduce_cols_kernel<T, A><<<blocks_for(outer * inner), kThreads, 0, current_stream()>>>(op, x, out.impl()->data(), to_bool, outer, r,
                                                                       inner);
  }
  check_launch("reduce");
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& in, const Tensor& out) {
  DeviceGuard device_guard(device_);
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "reduce", (reduce_impl<T>(op, in, out)));
}

}  // namespace anneal::cuda
