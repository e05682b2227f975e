// Indexing kernels: index_select / index_add / gather / scatter / nonzero, with the
// CPU backend's contracts (kernels/cpu/index.cpp). Every index is checked on the device;
// the first bad one is read back and raised as an IndexError naming it (this costs a
// synchronisation, as PyTorch's device-side asserts do). Accumulation uses atomics, so
// sums over repeated indices may round differently from run to run (as in PyTorch).
#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

constexpr unsigned long long kNoBadIndex = 0x7fffffffffffffffull;

__global__ void check_indices_kernel(const int64_t* idx, int64_t n, int64_t size, unsigned long long* first_bad) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = idx[j];
    if (v < -size || v >= size) atomicMin(first_bad, static_cast<unsigned long long>(j));
  }
}

// IndexError for the first index outside [-size, size).
void check_indices(const char* op, const Tensor& index, int64_t size) {
  const int64_t n = index.numel();
  // Reading the verdict back would wait for the device, which a graph capture forbids.
  if (n == 0 || stream_capturing()) return;
  Tensor flag = make_empty({1}, DType::Int64, allocator_for(index.device()));
  auto* f = reinterpret_cast<unsigned long long*>(flag.impl()->data());
  const unsigned long long none = kNoBadIndex;
  ANNEAL_CUDA_CHECK(cudaMemcpy(f, &none, sizeof(none), cudaMemcpyHostToDevice), op);
  check_indices_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<int64_t>(index), n, size, f);
  check_launch(op);
  unsigned long long bad = none;
  ANNEAL_CUDA_CHECK(cudaMemcpy(&bad, f, sizeof(bad), cudaMemcpyDeviceToHost), op);
  if (bad == none) return;
  int64_t value = 0;
  ANNEAL_CUDA_CHECK(cudaMemcpy(&value, ptr<int64_t>(index) + bad, sizeof(value), cudaMemcpyDeviceToHost), op);
  throw IndexError(str(op, ": index ", value, " is out of bounds for dimension with size ", size));
}

__device__ __forceinline__ int64_t wrap(int64_t idx, int64_t size) { return idx < 0 ? idx + size : idx; }

int64_t prod(const Shape& s, int64_t from, int64_t to) {
  int64_t p = 1;
  for (int64_t i = from; i < to; ++i) p *= s[size_t(i)];
  return p;
}

template <typename T>
__device__ __forceinline__ void atomic_add(T* addr, T v) {
  if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(addr), static_cast<unsigned long long>(v));
  } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, bool>) {
    // no byte atomics: the host refuses these dtypes before launching
  } else {
    atomicAdd(addr, v);
  }
}

void check_atomic_dtype(const char* op, DType dt) {
  ANNEAL_CHECK(dt != DType::UInt8 && dt != DType::Bool, NotImplementedError, "CUDA ", op,
               ": accumulation is not supported for dtype ", dtype_name(dt));
}

// A contiguous shape and its strides, passed to kernels by value.
struct Dims {
  int nd = 0;
  int64_t size[kMaxDims];
  int64_t stride[kMaxDims];
};
Dims dims_of(const Shape& shape) {
  Dims d;
  d.nd = int(shape.size());
  int64_t s = 1;
  for (int i = d.nd - 1; i >= 0; --i) {
    d.size[i] = shape[size_t(i)];
    d.stride[i] = s;
    s *= shape[size_t(i)];
  }
  return d;
}

template <typename T>
__global__ void index_select_kernel(const T* in, const int64_t* idx, T* out, int64_t outer, int64_t size, int64_t n,
                                    int64_t inner) {
  const int64_t total = outer * n * inner;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = p % inner, j = (p / inner) % n, o = p / (inner * n);
    out[p] = in[(o * size + wrap(idx[j], size)) * inner + i];
  }
}

template <typename T>
__global__ void index_add_kernel(T* out, const int64_t* idx, const T* src, int64_t outer, int64_t size, int64_t n,
                                 int64_t inner) {
  const int64_t total = outer * n * inner;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < total; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = p % inner, j = (p / inner) % n, o = p / (inner * n);
    atomic_add(out + (o * size + wrap(idx[j], size)) * inner + i, src[p]);
  }
}

// One thread per index element: its position in `index` selects along every dim but `dim`.
template <typename T>
__global__ void gather_kernel(const T* in, Dims in_d, const int64_t* idx, Dims idx_d, int dim, T* out, int64_t n) {
  for (int64_t lin = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; lin < n; lin += int64_t(gridDim.x) * blockDim.x) {
    int64_t off = 0, rem = lin;
    for (int d = 0; d < idx_d.nd; ++d) {
      const int64_t pos = rem / idx_d.stride[d];
      rem %= idx_d.stride[d];
      off += (d == dim ? wrap(idx[lin], in_d.size[d]) : pos) * in_d.stride[d];
    }
    out[lin] = in[off];
  }
}

template <typename T>
__global__ void scatter_kernel(T* out, Dims out_d, const int64_t* idx, Dims idx_d, const T* src, Dims src_d, int dim,
                               bool accumulate, int64_t n) {
  for (int64_t lin = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; lin < n; lin += int64_t(gridDim.x) * blockDim.x) {
    int64_t off = 0, soff = 0, rem = lin;
    for (int d = 0; d < idx_d.nd; ++d) {
      const int64_t pos = rem / idx_d.stride[d];
      rem %= idx_d.stride[d];
      off += (d == dim ? wrap(idx[lin], out_d.size[d]) : pos) * out_d.stride[d];
      soff += pos * src_d.stride[d];
    }
    if (accumulate) atomic_add(out + off, src[soff]);
    else out[off] = src[soff];
  }
}

template <typename T>
void index_select_impl(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t outer = prod(in.sizes(), 0, dim), size = in.size(dim), inner = prod(in.sizes(), dim + 1, in.dim());
  const int64_t n = index.numel(), total = outer * n * inner;
  if (total == 0) return;
  index_select_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(ptr<T>(in), ptr<int64_t>(index), ptr<T>(out), outer, size, n,
                                                          inner);
  check_launch("index_select");
}

template <typename T>
void index_add_impl(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t outer = prod(out.sizes(), 0, dim), size = out.size(dim), inner = prod(out.sizes(), dim + 1, out.dim());
  const int64_t n = index.numel(), total = outer * n * inner;
  if (total == 0) return;
  index_add_kernel<T><<<blocks_for(total), kThreads, 0, current_stream()>>>(ptr<T>(out), ptr<int64_t>(index), ptr<T>(src), outer, size, n,
                                                       inner);
  check_launch("index_add");
}

template <typename T>
void gather_impl(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  const int64_t n = index.numel();
  if (n == 0) return;
  gather_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(in), dims_of(in.sizes()), ptr<int64_t>(index),
                                                dims_of(index.sizes()), int(dim), ptr<T>(out), n);
  check_launch("gather");
}

template <typename T>
void scatter_impl(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  const int64_t n = index.numel();
  if (n == 0) return;
  scatter_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(ptr<T>(out), dims_of(out.sizes()), ptr<int64_t>(index),
                                                 dims_of(index.sizes()), ptr<T>(src), dims_of(src.sizes()), int(dim),
                                                 accumulate, n);
  check_launch("scatter");
}

__global__ void unravel_kernel(const int64_t* flat, int64_t count, Dims d, int64_t* out) {
  for (int64_t h = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; h < count; h += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = flat[h];
    for (int k = 0; k < d.nd; ++k) {
      out[h * d.nd + k] = rem / d.stride[k];
      rem %= d.stride[k];
    }
  }
}

template <typename T>
Tensor nonzero_impl(const Tensor& in) {
  const int64_t n = in.numel(), nd = in.dim();
  const T* x = ptr<T>(in);
  auto is_hit = [x] __host__ __device__(int64_t i) {
#ifdef __CUDA_ARCH__
    return load_c<T>(x[i]) != compute_of<T>(0);
#else
    return false;
#endif
  };
  thrust::counting_iterator<int64_t> first(0), last(n);
  const int64_t count = thrust::count_if(thrust::cuda::par.on(current_stream()), first, last, is_hit);
  Allocator* alloc = allocator_for(in.device());
  Tensor flat = make_empty({count}, DType::Int64, alloc);
  Tensor out = make_empty({count, nd}, DType::Int64, alloc);
  if (count == 0) return out;
  thrust::copy_if(thrust::cuda::par.on(current_stream()), first, last, ptr<int64_t>(flat), is_hit);
  if (nd > 0) {
    unravel_kernel<<<blocks_for(count), kThreads, 0, current_stream()>>>(ptr<int64_t>(flat), count, dims_of(in.sizes()), ptr<int64_t>(out));
    check_launch("nonzero");
  }
  return out;
}

}  // namespace

void CudaBackend::index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  DeviceGuard device_guard(device_);
  check_indices("index_select", index, in.size(dim));
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "index_select", (index_select_impl<T>(in, dim, index, out)));
}

void CudaBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  DeviceGuard device_guard(device_);
  check_atomic_dtype("index_add", out.dtype());
  check_indices("index_add", index, out.size(dim));
  ANNEAL_CUDA_DISPATCH_ALL(out.dtype(), "index_add", (index_add_impl<T>(out, dim, index, src)));
}

void CudaBackend::gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) {
  DeviceGuard device_guard(device_);
  check_indices("gather", index, in.size(dim));
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "gather", (gather_impl<T>(in, dim, index, out)));
}

void CudaBackend::scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  DeviceGuard device_guard(device_);
  if (accumulate) check_atomic_dtype("scatter_add", out.dtype());
  check_indices("scatter", index, out.size(dim));
  ANNEAL_CUDA_DISPATCH_ALL(out.dtype(), "scatter", (scatter_impl<T>(out, dim, index, src, accumulate)));
}

Tensor CudaBackend::nonzero(const Tensor& in) {
  DeviceGuard device_guard(device_);
  Tensor result;
  ANNEAL_CUDA_DISPATCH_ALL(in.dtype(), "nonzero", (result = nonzero_impl<T>(in)));
  return result;
}

}  // namespace anneal::cuda
