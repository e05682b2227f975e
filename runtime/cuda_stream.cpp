// CudaStream / CudaEvent over the CUDA backend's entry points (kernels/cuda/cuda_backend.h),
// or DeviceErrors in a build without it.
#include "runtime/cuda_stream.h"

#include "core/error.h"
#include "core/tensor.h"
#include "core/tensor_impl.h"
#include "runtime/device.h"
#ifdef ANNEAL_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace anneal {
namespace {

void check_device(int device) {
#ifdef ANNEAL_WITH_CUDA
  const int n = cuda::device_count();
  ANNEAL_CHECK(n > 0, DeviceError, "CUDA streams and events need a CUDA device, and none is available");
  ANNEAL_CHECK(device >= 0 && device < n, DeviceError, "cuda:", device, " does not exist (", n, " device(s))");
#else
  (void)device;
  throw DeviceError("CUDA streams and events: anneal was built without CUDA support (configure with -DANNEAL_CUDA=ON)");
#endif
}

}  // namespace

#ifdef ANNEAL_WITH_CUDA
CudaStream CudaStream::create(int device) {
  check_device(device);
  return CudaStream(device, std::shared_ptr<void>(cuda::stream_create(device), [device](void* s) {
                      cuda::stream_destroy(device, s);
                    }));
}
CudaStream CudaStream::default_stream(int device) {
  check_device(device);
  return CudaStream(device, nullptr);
}
CudaStream CudaStream::current(int device) {
  check_device(device);
  void* s = cuda::current_stream(device);
  // a non-owning handle: the guard that made it current keeps the stream alive
  return CudaStream(device, std::shared_ptr<void>(s, [](void*) {}));
}
void CudaStream::synchronize() const { cuda::stream_synchronize(device_, native_handle()); }
bool CudaStream::query() const { return cuda::stream_query(device_, native_handle()); }

CudaStreamGuard::CudaStreamGuard(const CudaStream& stream) : device_(stream.device()) {
  prev_ = cuda::current_stream(device_);
  cuda::set_current_stream(device_, stream.native_handle());
}
CudaStreamGuard::~CudaStreamGuard() { cuda::set_current_stream(device_, prev_); }

CudaEvent::CudaEvent(int device, bool timing) : device_(device) {
  check_device(device);
  handle_ = std::shared_ptr<void>(cuda::event_create(device, timing), [device](void* e) { cuda::event_destroy(device, e); });
}
void CudaEvent::record(const CudaStream& stream) {
  ANNEAL_CHECK(stream.device() == device_, DeviceError, "CudaEvent.record: the event is on cuda:", device_,
               ", the stream on cuda:", stream.device());
  cuda::event_record(device_, handle_.get(), stream.native_handle());
}
void CudaEvent::synchronize() const { cuda::event_synchronize(handle_.get()); }
bool CudaEvent::query() const { return cuda::event_query(handle_.get()); }
void CudaEvent::block(const CudaStream& stream) const {
  cuda::stream_wait_event(stream.device(), stream.native_handle(), handle_.get());
}
double CudaEvent::elapsed_ms(const CudaEvent& end) const { return cuda::event_elapsed_ms(handle_.get(), end.handle_.get()); }

#else
CudaStream CudaStream::create(int device) { check_device(device); return CudaStream(device, nullptr); }
CudaStream CudaStream::default_stream(int device) { check_device(device); return CudaStream(device, nullptr); }
CudaStream CudaStream::current(int device) { check_device(device); return CudaStream(device, nullptr); }
void CudaStream::synchronize() const { check_device(device_); }
bool CudaStream::query() const { check_device(device_); return true; }
CudaStreamGuard::CudaStreamGuard(const CudaStream& stream) : device_(stream.device()), prev_(nullptr) { check_device(device_); }
CudaStreamGuard::~CudaStreamGuard() = default;
CudaEvent::CudaEvent(int device, bool) : device_(device) { check_device(device); }
void CudaEvent::record(const CudaStream&) { check_device(device_); }
void CudaEvent::synchronize() const { check_device(device_); }
bool CudaEvent::query() const { check_device(device_); return true; }
void CudaEvent::block(const CudaStream&) const { check_device(device_); }
double CudaEvent::elapsed_ms(const CudaEvent&) const { check_device(device_); return 0; }
#endif

void record_stream(const Tensor& tensor, const CudaStream& stream) {
  ANNEAL_CHECK(tensor.defined(), ValueError, "record_stream: the tensor is undefined");
  ANNEAL_CHECK(tensor.device() == Device(DeviceType::CUDA, stream.device()), DeviceError,
               "record_stream: the tensor is on ", tensor.device().str(), ", the stream on cuda:", stream.device());
  const Storage& storage = tensor.impl()->storage();
  if (Allocator* a = storage->allocator()) a->record_stream(storage->data(), stream.native_handle());
}

}  // namespace anneal
