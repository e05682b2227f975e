#pragma once
// CUDA streams and events as user-visible types (plain C++: usable in every build; without
// the CUDA backend or a device each call is a DeviceError saying so). Kernels, copies and
// cuBLAS calls go to the calling thread's current stream of their device (the default
// stream unless a CudaStreamGuard says otherwise). Streams are created blocking, so work on
// them is ordered with the default stream as in PyTorch's default streams.
#include <memory>

namespace anneal {

class Tensor;

class CudaStream {
 public:
  static CudaStream create(int device = 0);          // a new stream on the device
  static CudaStream default_stream(int device = 0);  // the device's default stream
  static CudaStream current(int device = 0);         // this thread's current stream there
  int device() const { return device_; }
  void* native_handle() const { return handle_.get(); }  // a cudaStream_t
  void synchronize() const;                              // waits for its queued work
  bool query() const;                                    // true when all its work is done
  bool operator==(const CudaStream& o) const { return device_ == o.device_ && native_handle() == o.native_handle(); }

 private:
  CudaStream(int device, std::shared_ptr<void> handle) : device_(device), handle_(std::move(handle)) {}
  int device_;
  std::shared_ptr<void> handle_;  // null: the default stream
};

// Makes `stream` the current stream of its device for this thread, for the scope.
class CudaStreamGuard {
 public:
  explicit CudaStreamGuard(const CudaStream& stream);
  ~CudaStreamGuard();
  CudaStreamGuard(const CudaStreamGuard&) = delete;
  CudaStreamGuard& operator=(const CudaStreamGuard&) = delete;

 private:
  int device_;
  void* prev_;
};

class CudaEvent {
 public:
  explicit CudaEvent(int device = 0, bool timing = true);
  void record(const CudaStream& stream);
  void record() { record(CudaStream::current(device_)); }
  void synchronize() const;
  bool query() const;                              // true once the recorded work is done
  void block(const CudaStream& stream) const;      // `stream` waits for this event
  double elapsed_ms(const CudaEvent& end) const;   // time from this event to `end`

 private:
  int device_;
  std::shared_ptr<void> handle_;  // a cudaEvent_t
};

// The tensor's memory is also used by work queued on `stream` (not the stream it was
// allocated on): when the tensor is freed, its block is reused only after that work is
// done. Needed after handing a tensor to another stream, as in PyTorch.
void record_stream(const Tensor& tensor, const CudaStream& stream);

}  // namespace anneal
