// The CUDA backend. This first part provides device discovery, a caching allocator,
// transfers, fill and contiguous copies; the compute kernels land behind the same
// Backend interface, and until then each reports clearly that it is not implemented.
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "kernels/cuda/cuda_backend.h"

namespace anneal::cuda {
namespace {

#define ANNEAL_CUDA_CHECK(call, what)                                                                  \
  do {                                                                                                 \
    cudaError_t err__ = (call);                                                                        \
    if (err__ != cudaSuccess)                                                                          \
      throw ::anneal::Error(::anneal::str(what, ": ", #call, " failed: ", cudaGetErrorString(err__))); \
  } while (0)

size_t round_512(size_t n) { return n < 512 ? 512 : (n + 511) / 512 * 512; }

class CudaCachingAllocator final : public CachingAllocator {
 public:
  explicit CudaCachingAllocator(int device) : device_(device) {}
  Device device() const override { return Device(DeviceType::CUDA, device_); }

 private:
  size_t round(size_t n) const override { return round_512(n); }
  void* system_alloc(size_t size) override {
    ANNEAL_CUDA_CHECK(cudaSetDevice(device_), "CUDA allocator");
    void* p = nullptr;
    if (cudaMalloc(&p, size) != cudaSuccess) {
      (void)cudaGetLastError();  // out of memory is not sticky: clear it, the caller retries
      return nullptr;
    }
    return p;
  }
  void system_free(void* p) override { cudaFree(p); }
  std::string out_of_memory_message(size_t nbytes, const MemoryStats& s) const override {
    return str("CUDA out of memory: tried to allocate ", nbytes, " bytes on cuda:", device_, " (", s.allocated_bytes,
               " bytes allocated, ", s.reserved_bytes, " reserved, ", s.num_system_allocs, " cudaMalloc calls)");
  }
  int device_;
};

// Page-locked host blocks are slow to get (cudaHostAlloc maps them for the device), so
// freed ones are kept by size and reused, as PyTorch's CachingHostAllocator does.
class PinnedHostAllocator final : public CachingAllocator {
 public:
  Device device() const override { return kCPU; }

 private:
  size_t round(size_t n) const override { return round_512(n); }
  void* system_alloc(size_t size) override {
    void* p = nullptr;
    if (cudaHostAlloc(&p, size, cudaHostAllocDefault) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  void system_free(void* p) override { cudaFreeHost(p); }
  std::string out_of_memory_message(size_t nbytes, const MemoryStats& s) const override {
    return str("pinned host memory: cudaHostAlloc of ", nbytes, " bytes failed (", s.allocated_bytes,
               " bytes pinned in use, ", s.reserved_bytes, " reserved)");
  }
};

template <typename T>
__global__ void fill_kernel(T* out, T value, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}
  DeviceType device_type() const override { return DeviceType::CUDA; }

  void fill(const Tensor& out, Scalar value) override {
    require_contiguous("fill", out);
    ANNEAL_CUDA_CHECK(cudaSetDevice(device_), "fill");
    const int64_t n = out.numel();
    if (n == 0) return;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    switch (out.dtype()) {
      case DType::Float32:
        fill_kernel<float><<<blocks, threads>>>(static_cast<float*>(out.data_ptr()), float(value.to_double()), n);
        break;
      case DType::Float64:
        fill_kernel<double><<<blocks, threads>>>(static_cast<double*>(out.data_ptr()), value.to_double(), n);
        break;
      case DType::Int64:
        fill_kernel<int64_t><<<blocks, threads>>>(static_cast<int64_t*>(out.data_ptr()), value.to_int(), n);
        break;
      case DType::Int32:
        fill_kernel<int32_t><<<blocks, threads>>>(static_cast<int32_t*>(out.data_ptr()), int32_t(value.to_int()), n);
        break;
      default: not_implemented("fill for this dtype");
    }
    ANNEAL_CUDA_CHECK(cudaGetLastError(), "fill");
  }
  void copy(const Tensor& dst, const Tensor& src) override {
    ANNEAL_CHECK(dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous(), NotImplementedError,
                 "CUDA copy: only contiguous same-dtype copies are implemented so far");
    ANNEAL_CUDA_CHECK(cudaMemcpy(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToDevice), "copy");
  }
  void copy_across(const Tensor& dst, const Tensor& src) override {
    ANNEAL_CHECK(dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous(), ValueError,
                 "copy_across: expects contiguous tensors of one dtype");
    cudaMemcpyKind kind = src.device().is_cpu() ? cudaMemcpyHostToDevice
                          : dst.device().is_cpu() ? cudaMemcpyDeviceToHost
                                                  : cudaMemcpyDeviceToDevice;
    ANNEAL_CUDA_CHECK(cudaMemcpy(dst.data_ptr(), src.data_ptr(), dst.nbytes(), kind), "to(device)");
  }
  void unary(UnaryOp, const Tensor&, const Tensor&, UnaryParams) override { not_implemented("unary"); }
  void binary(BinaryOp, const Tensor&, const Tensor&, const Tensor&) override { not_implemented("binary"); }
  void where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) override { not_implemented("where"); }
  void reduce(ReduceOp, const Tensor&, const Tensor&) override { not_implemented("reduce"); }
  void bmm(const Tensor&, const Tensor&, const Tensor&) override { not_implemented("bmm"); }
  void arange(const Tensor&, double, double) override { not_implemented("arange"); }
  void random_uniform(const Tensor&, uint64_t, uint64_t, double, double) override { not_implemented("uniform"); }
  void random_normal(const Tensor&, uint64_t, uint64_t, double, double) override { not_implemented("normal"); }
  void index_select(const Tensor&, int64_t, const Tensor&, const Tensor&) override { not_implemented("index_select"); }
  void index_add(const Tensor&, int64_t, const Tensor&, const Tensor&) override { not_implemented("index_add"); }
  void gather(const Tensor&, int64_t, const Tensor&, const Tensor&) override { not_implemented("gather"); }
  void scatter(const Tensor&, int64_t, const Tensor&, const Tensor&, bool) override { not_implemented("scatter"); }
  Tensor nonzero(const Tensor&) override { not_implemented("nonzero"); }
  void im2col(const Tensor&, const Tensor&, const Conv2dGeometry&, double) override { not_implemented("im2col"); }
  void col2im(const Tensor&, const Tensor&, const Conv2dGeometry&) override { not_implemented("col2im"); }
  void conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dGeometry&, int64_t) override {
    not_implemented("conv2d_forward");
  }
  void conv2d_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dGeometry&,
                       int64_t) override {
    not_implemented("conv2d_backward");
  }
  void channel_sums(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) override {
    not_implemented("channel_sums");
  }
  void channel_affine(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) override {
    not_implemented("channel_affine");
  }
  void max_pool2d(const Tensor&, const Tensor&, const Tensor&, const Conv2dGeometry&) override {
    not_implemented("max_pool2d");
  }
  void max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&) override { not_implemented("max_pool2d_backward"); }
  void sgd_step(const Tensor&, const Tensor&, const Tensor&, double, double, double, double, bool, bool) override {
    not_implemented("sgd_step");
  }
  void adam_step(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, double, double,
                 double, double) override {
    not_implemented("adam_step");
  }
  void softmax_rows(const Tensor&, const Tensor&, bool, int64_t) override { not_implemented("softmax_rows"); }
  void softmax_rows_backward(const Tensor&, const Tensor&, const Tensor&, bool) override {
    not_implemented("softmax_rows_backward");
  }
  void layer_norm_rows(const Tensor&, const Tensor&, const Tensor&, double, const Tensor&, const Tensor&,
                       const Tensor&) override {
    not_implemented("layer_norm_rows");
  }
  void layer_norm_rows_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&, const Tensor&, const Tensor&) override {
    not_implemented("layer_norm_rows_backward");
  }

 private:
  [[noreturn]] static void not_implemented(const char* what) {
    throw NotImplementedError(str("CUDA backend: the '", what, "' kernel is not implemented yet"));
  }
  static void require_contiguous(const char* op, const Tensor& t) {
    ANNEAL_CHECK(t.is_contiguous(), NotImplementedError, "CUDA ", op, ": only contiguous tensors so far");
  }
  int device_;
};

}  // namespace

int device_count() {
  static int n = [] {
    int c = 0;
    // Any error (no driver: 35; no device: 100; ...) means no usable device.
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return c;
  }();
  return n;
}

void synchronize(int index) {
  if (index >= 0) ANNEAL_CUDA_CHECK(cudaSetDevice(index), "synchronize");
  ANNEAL_CUDA_CHECK(cudaDeviceSynchronize(), "synchronize");
}

Backend& backend(int index) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<CudaBackend>> backends;
  std::lock_guard<std::mutex> l(mu);
  auto& b = backends[index];
  if (!b) b = std::make_unique<CudaBackend>(index);
  return *b;
}

Allocator* pinned_allocator() {
  static Allocator* a = new PinnedHostAllocator();  // leaked: tensors may outlive main
  return a;
}

Allocator* allocator(int index) {
  static std::mutex mu;
  static std::map<int, Allocator*> allocators;  // leaked: tensors may outlive main
  std::lock_guard<std::mutex> l(mu);
  auto& a = allocators[index];
  if (!a) a = new CudaCachingAllocator(index);
  return a;
}

}  // namespace anneal::cuda
