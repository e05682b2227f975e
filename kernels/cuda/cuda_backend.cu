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

// Each entry point makes the tensors' device current and runs the kernel from
// kernels.h (one file per group of kernels).
class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}
  DeviceType device_type() const override { return DeviceType::CUDA; }

  void fill(const Tensor& out, Scalar value) override {
    DeviceGuard g(device_);
    cuda::fill(out, value);
  }
  void copy(const Tensor& dst, const Tensor& src) override {
    DeviceGuard g(device_);
    cuda::copy(dst, src);
  }
  void copy_across(const Tensor& dst, const Tensor& src, bool non_blocking) override {
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
  void unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p) override {
    DeviceGuard g(device_);
    cuda::unary(op, in, out, p);
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override {
    DeviceGuard g(device_);
    cuda::binary(op, a, b, out);
  }
  void where(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) override {
    DeviceGuard g(device_);
    cuda::where(c, a, b, out);
  }
  void reduce(ReduceOp op, const Tensor& in, const Tensor& out) override {
    DeviceGuard g(device_);
    cuda::reduce(op, in, out);
  }
  void bmm(const Tensor& a, const Tensor& b, const Tensor& out) override {
    DeviceGuard g(device_);
    cuda::bmm(a, b, out);
  }
  void arange(const Tensor& out, double start, double step) override {
    DeviceGuard g(device_);
    cuda::arange(out, start, step);
  }
  void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override {
    DeviceGuard g(device_);
    cuda::random_uniform(out, seed, offset, lo, hi);
  }
  void random_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override {
    DeviceGuard g(device_);
    cuda::random_normal(out, seed, offset, mean, std);
  }
  void index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) override {
    DeviceGuard g(device_);
    cuda::index_select(in, dim, index, out);
  }
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override {
    DeviceGuard g(device_);
    cuda::index_add(out, dim, index, src);
  }
  void gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) override {
    DeviceGuard g(device_);
    cuda::gather(in, dim, index, out);
  }
  void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) override {
    DeviceGuard g(device_);
    cuda::scatter(out, dim, index, src, accumulate);
  }
  Tensor nonzero(const Tensor& in) override {
    DeviceGuard g(device_);
    return cuda::nonzero(in);
  }
  void im2col(const Tensor& in, const Tensor& cols, const Conv2dGeometry& geo, double pad_value) override {
    DeviceGuard g(device_);
    cuda::im2col(in, cols, geo, pad_value);
  }
  void col2im(const Tensor& cols, const Tensor& out, const Conv2dGeometry& geo) override {
    DeviceGuard g(device_);
    cuda::col2im(cols, out, geo);
  }
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out,
                      const Conv2dGeometry& geo, int64_t groups) override {
    DeviceGuard g(device_);
    cuda::conv2d_forward(x, w, bias, out, geo, groups);
  }
  void conv2d_backward(const Tensor& gout, const Tensor& x, const Tensor& w, const Tensor& gx, const Tensor& gw,
                       const Conv2dGeometry& geo, int64_t groups) override {
    DeviceGuard g(device_);
    cuda::conv2d_backward(gout, x, w, gx, gw, geo, groups);
  }
  void channel_sums(const Tensor& a, const Tensor& b, const Tensor& shift, const Tensor& sa, const Tensor& sab) override {
    DeviceGuard g(device_);
    cuda::channel_sums(a, b, shift, sa, sab);
  }
  void channel_affine(const Tensor& a, const Tensor& b, const Tensor& ca, const Tensor& cb, const Tensor& c0,
                      const Tensor& out) override {
    DeviceGuard g(device_);
    cuda::channel_affine(a, b, ca, cb, c0, out);
  }
  void max_pool2d(const Tensor& in, const Tensor& out, const Tensor& idx, const Conv2dGeometry& geo) override {
    DeviceGuard g(device_);
    cuda::max_pool2d(in, out, idx, geo);
  }
  void max_pool2d_backward(const Tensor& gout, const Tensor& idx, const Tensor& gin) override {
    DeviceGuard g(device_);
    cuda::max_pool2d_backward(gout, idx, gin);
  }
  void softmax_rows(const Tensor& in, const Tensor& out, bool log, int64_t causal_len) override {
    DeviceGuard g(device_);
    cuda::softmax_rows(in, out, log, causal_len);
  }
  bool cross_entropy_rows(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                          const Tensor& lse) override {
    DeviceGuard g(device_);
    cuda::cross_entropy_rows(logits, target, ignore_index, loss, lse);
    return true;
  }
  bool cross_entropy_rows_backward(const Tensor& logits, const Tensor& target, const Tensor& lse,
                                   const Tensor& grad_loss, int64_t ignore_index, const Tensor& grad_logits) override {
    DeviceGuard g(device_);
    cuda::cross_entropy_rows_backward(logits, target, lse, grad_loss, ignore_index, grad_logits);
    return true;
  }
  bool gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) override {
    DeviceGuard g(device_);
    return cuda::gemm_bias(a, b, bias, out);
  }
  bool attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                         bool causal, double scale) override {
    DeviceGuard g(device_);
    return cuda::flash_attention_forward(q, k, v, out, lse, causal, scale);
  }
  void softmax_rows_backward(const Tensor& y, const Tensor& gr, const Tensor& gin, bool log) override {
    DeviceGuard g(device_);
    cuda::softmax_rows_backward(y, gr, gin, log);
  }
  void layer_norm_rows(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                       const Tensor& mean, const Tensor& rstd) override {
    DeviceGuard g(device_);
    cuda::layer_norm_rows(x, w, b, eps, y, mean, rstd);
  }
  void layer_norm_rows_backward(const Tensor& gr, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) override {
    DeviceGuard g(device_);
    cuda::layer_norm_rows_backward(gr, x, mean, rstd, w, dx, dw, db);
  }
  void sgd_step(const Tensor& p, const Tensor& gr, const Tensor& buf, double lr, double momentum, double dampening,
                double weight_decay, bool nesterov, bool first_step) override {
    DeviceGuard g(device_);
    cuda::sgd_step(p, gr, buf, lr, momentum, dampening, weight_decay, nesterov, first_step);
  }
  bool adam_step_device_step(const Tensor& p, const Tensor& gr, const Tensor& m, const Tensor& v, const Tensor& max_v,
                             const Tensor& step, double lr, double b1, double b2, double eps) override {
    DeviceGuard g(device_);
    cuda::adam_step_device_step(p, gr, m, v, max_v, step, lr, b1, b2, eps);
    return true;
  }
  void adam_step(const Tensor& p, const Tensor& gr, const Tensor& m, const Tensor& v, const Tensor& max_v, double b1,
                 double b2, double eps, double step_size, double bc2_sqrt) override {
    DeviceGuard g(device_);
    cuda::adam_step(p, gr, m, v, max_v, b1, b2, eps, step_size, bc2_sqrt);
  }

 private:
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
