// The CUDA backend: device discovery, the caching allocators (device memory and pinned
// host memory), transfers, and the Backend entry points over the kernels in this folder.
#include <cuda_runtime.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "runtime/env.h"
#include "core/stream_allocator.h"
#include "core/tensor_impl.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {

void check_launch(const char* op) {
  static const bool sync_checks = env_switch("ANNEAL_CUDA_SYNC_CHECKS", false);
  ANNEAL_CUDA_CHECK(cudaGetLastError(), str("CUDA ", op, " (launch)"));
  // (no waiting while a graph is captured: the kernel has not run, and waiting is refused)
  if (sync_checks && !stream_capturing()) ANNEAL_CUDA_CHECK(cudaDeviceSynchronize(), str("CUDA ", op, " (kernel)"));
}

DeviceGuard::DeviceGuard(int device) {
  ANNEAL_CUDA_CHECK(cudaGetDevice(&prev_), "DeviceGuard");
  if (prev_ != device) ANNEAL_CUDA_CHECK(cudaSetDevice(device), "DeviceGuard");
}
DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != prev_) (void)cudaSetDevice(prev_);
}

namespace {

// Device memory: the stream-aware caching allocator (core/stream_allocator.h) over
// cudaMalloc, with events for blocks used on several streams.
class CudaCachingAllocator final : public StreamCachingAllocator {
 public:
  explicit CudaCachingAllocator(int device) : device_(device) {}
  Device device() const override { return Device(DeviceType::CUDA, device_); }
  // ANNEAL_CUDA_POISON=1 (the GPU tests): every block handed out is filled with 0xFF
  // bytes (NaN for floats), so elements a kernel never writes are caught.
  void* allocate(size_t nbytes) override {
    void* p = StreamCachingAllocator::allocate(nbytes);
    static const bool poison = env_switch("ANNEAL_CUDA_POISON", false);
    if (poison && nbytes > 0) {
      DeviceGuard g(device_);
      ANNEAL_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, nbytes, cuda::current_stream()), "CUDA allocator (poison)");
    }
    return p;
  }

 private:
  StreamId current_stream() const override { return cuda::current_stream(device_); }
  void* system_alloc(size_t size) override {
    DeviceGuard g(device_);
    // A CUDA graph's private pool grows while the graph is captured: cudaMalloc is not
    // stream work, and relaxed mode keeps it from invalidating the capture (as PyTorch).
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    (void)cudaThreadExchangeStreamCaptureMode(&mode);
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, size);
    (void)cudaThreadExchangeStreamCaptureMode(&mode);  // back to the thread's mode
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // out of memory is not sticky: clear it, the caller retries
      return nullptr;
    }
    return p;
  }
  void system_free(void* p) override {
    DeviceGuard g(device_);
    (void)cudaFree(p);  // frees are not worth failing for: the memory is gone either way
  }
  // events from streams.cu: untimed, recorded on the stream that also used the block
  void* record_event(StreamId stream) override {
    void* e = event_create(device_, false);
    event_record(device_, e, stream);
    return e;
  }
  bool event_done(void* e) override { return event_query(e); }
  void wait_event(void* e) override { event_synchronize(e); }
  void destroy_event(void* e) override { event_destroy(device_, e); }
  std::string out_of_memory_message(size_t nbytes, const MemoryStats& s) const override {
    return str("CUDA out of memory: tried to allocate ", nbytes, " bytes on cuda:", device_, " (", s.allocated_bytes,
               " bytes allocated, ", s.reserved_bytes, " reserved, ", s.num_system_allocs, " cudaMalloc calls)");
  }
  int device_;
};

// Page-locked host blocks are slow to get (cudaHostAlloc maps them for the device), so
// freed ones are kept and reused, as PyTorch's CachingHostAllocator does. A block that a
// non_blocking copy reads or writes is recorded on the copy's stream (record_stream), so
// it is handed out again only after that copy is done. Host allocations have no stream of
// their own: all of them share one pool.
class PinnedHostAllocator final : public StreamCachingAllocator {
 public:
  Device device() const override { return kCPU; }

 private:
  StreamId current_stream() const override { return nullptr; }
  void* system_alloc(size_t size) override {
    void* p = nullptr;
    if (cudaHostAlloc(&p, size, cudaHostAllocDefault) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  void system_free(void* p) override { (void)cudaFreeHost(p); }
  void* record_event(StreamId stream) override {  // on the stream's own device
    int device = 0;
    ANNEAL_CUDA_CHECK(cudaStreamGetDevice(static_cast<cudaStream_t>(stream), &device), "pinned allocator (event)");
    void* e = event_create(device, false);
    event_record(device, e, stream);
    return e;
  }
  bool event_done(void* e) override { return event_query(e); }
  void wait_event(void* e) override { event_synchronize(e); }
  void destroy_event(void* e) override { (void)cudaEventDestroy(static_cast<cudaEvent_t>(e)); }
  std::string out_of_memory_message(size_t nbytes, const MemoryStats& s) const override {
    return str("pinned host memory: cudaHostAlloc of ", nbytes, " bytes failed (", s.allocated_bytes,
               " bytes pinned in use, ", s.reserved_bytes, " reserved)");
  }
};

// Host <-> device copies; the other entry points of CudaBackend are defined in the .cu
// files of their groups.
}  // namespace

void CudaBackend::copy_across(const Tensor& dst, const Tensor& src, bool non_blocking) {
    ANNEAL_CHECK(dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous(), ValueError,
                 "copy_across: expects contiguous tensors of one dtype");
    DeviceGuard g(device_);
    // between two GPUs the pointers say which (unified addressing): cudaMemcpyDefault
    cudaMemcpyKind kind = src.device().is_cpu() ? cudaMemcpyHostToDevice
                          : dst.device().is_cpu() ? cudaMemcpyDeviceToHost
                                                  : cudaMemcpyDefault;
    const Tensor& host = src.device().is_cpu() ? src : dst;
    const Storage& host_storage = host.impl()->storage();
    if (non_blocking && kind != cudaMemcpyDefault && host_storage->allocator() == pinned_allocator()) {
      cudaStream_t stream = cuda::current_stream();
      ANNEAL_CUDA_CHECK(cudaMemcpyAsync(dst.impl()->data(), src.impl()->data(), dst.nbytes(), kind, stream),
                        "to(device, non_blocking)");
      pinned_allocator()->record_stream(host_storage->data(), stream);
      return;
    }
    // pageable host memory (or non_blocking = false): the copy is done when this returns
    ANNEAL_CUDA_CHECK(cudaMemcpy(dst.impl()->data(), src.impl()->data(), dst.nbytes(), kind), "to(device)");
}

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
