// Streams and events: the per-thread current stream of each device, and thin checked
// wrappers over the runtime calls (see runtime/cuda_stream.h for the user-facing types).
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.cuh"

namespace anneal::cuda {
namespace {

constexpr int kMaxDevices = 64;
thread_local cudaStream_t current[kMaxDevices] = {};  // null: the default stream

int checked_index(int device) {
  ANNEAL_CHECK(device >= 0 && device < kMaxDevices, DeviceError, "cuda:", device, " is out of range");
  return device;
}

}  // namespace

cudaStream_t current_stream() {
  int device = 0;
  ANNEAL_CUDA_CHECK(cudaGetDevice(&device), "current stream");
  return current[checked_index(device)];
}

void* current_stream(int device) { return current[checked_index(device)]; }
void set_current_stream(int device, void* stream) { current[checked_index(device)] = static_cast<cudaStream_t>(stream); }

void* stream_create(int device) {
  DeviceGuard g(device);
  cudaStream_t s = nullptr;
  ANNEAL_CUDA_CHECK(cudaStreamCreate(&s), "CudaStream.create");
  return s;
}
void stream_destroy(int device, void* stream) {
  if (!stream) return;
  DeviceGuard g(device);
  (void)cudaStreamDestroy(static_cast<cudaStream_t>(stream));  // in a destructor: nothing to report to
}
void stream_synchronize(int device, void* stream) {
  DeviceGuard g(device);
  ANNEAL_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "CudaStream.synchronize");
}
// A query's answer: done, not yet (not an error: cleared), or an error raised for `what`.
static bool done(cudaError_t e, const char* what) {
  if (e == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  ANNEAL_CUDA_CHECK(e, what);
  return true;
}

bool stream_query(int device, void* stream) {
  DeviceGuard g(device);
  return done(cudaStreamQuery(static_cast<cudaStream_t>(stream)), "CudaStream.query");
}
void stream_wait_event(int device, void* stream, void* event) {
  DeviceGuard g(device);
  ANNEAL_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), static_cast<cudaEvent_t>(event), 0),
                    "CudaEvent.block");
}

void* event_create(int device, bool timing) {
  DeviceGuard g(device);
  cudaEvent_t e = nullptr;
  ANNEAL_CUDA_CHECK(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming), "CudaEvent");
  return e;
}
void event_destroy(int device, void* event) {
  DeviceGuard g(device);
  (void)cudaEventDestroy(static_cast<cudaEvent_t>(event));
}
void event_record(int device, void* event, void* stream) {
  DeviceGuard g(device);
  ANNEAL_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream)),
                    "CudaEvent.record");
}
void event_synchronize(void* event) {
  ANNEAL_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)), "CudaEvent.synchronize");
}
bool event_query(void* event) { return done(cudaEventQuery(static_cast<cudaEvent_t>(event)), "CudaEvent.query"); }
double event_elapsed_ms(void* start, void* end) {
  float ms = 0;
  ANNEAL_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)),
                    "CudaEvent.elapsed_ms");
  return ms;
}

}  // namespace anneal::cuda
