// CUDA graph capture and replay behind anneal::CudaGraph (runtime/cuda_graph.h): a
// capture stream with its own allocator pool, stream capture in thread-local mode.
#include <atomic>

#include "core/stream_allocator.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.cuh"

namespace anneal::cuda {
namespace {

StreamCachingAllocator* device_allocator(int device) {
  auto* a = dynamic_cast<StreamCachingAllocator*>(allocator(device));
  ANNEAL_CHECK(a, DeviceError, "CUDA graphs: the allocator of cuda:", device, " has no private pools");
  return a;
}

std::atomic<uint64_t> next_pool_id{1};

}  // namespace

struct GraphCapture {
  int device = 0;
  uint64_t pool = 0;
  cudaStream_t stream = nullptr;
  void* previous_stream = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool capturing = false;
};

void* graph_create(int device) {
  auto* g = new GraphCapture;
  g->device = device;
  g->pool = next_pool_id.fetch_add(1);
  return g;
}

void graph_capture_begin(void* handle) {
  auto* g = static_cast<GraphCapture*>(handle);
  ANNEAL_CHECK(!g->capturing, ValueError, "CudaGraph.capture_begin: a capture is already under way");
  ANNEAL_CHECK(!g->exec, ValueError, "CudaGraph.capture_begin: this graph was already captured; make a new one");
  DeviceGuard guard(g->device);
  // Work queued before the capture (filling the static inputs) must be done first: the
  // capture stream does not wait on other streams.
  ANNEAL_CUDA_CHECK(cudaDeviceSynchronize(), "CudaGraph.capture_begin");
  if (!g->stream) ANNEAL_CUDA_CHECK(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking), "CudaGraph.capture_begin");
  device_allocator(g->device)->begin_private_pool(g->pool, g->stream);
  g->previous_stream = current_stream(g->device);
  set_current_stream(g->device, g->stream);
  const cudaError_t e = cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    set_current_stream(g->device, g->previous_stream);
    device_allocator(g->device)->end_private_pool(g->stream);
    ANNEAL_CUDA_CHECK(e, "CudaGraph.capture_begin (cudaStreamBeginCapture)");
  }
  g->capturing = true;
}

void graph_capture_end(void* handle) {
  auto* g = static_cast<GraphCapture*>(handle);
  ANNEAL_CHECK(g->capturing, ValueError, "CudaGraph.capture_end: no capture is under way (call capture_begin first)");
  DeviceGuard guard(g->device);
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(g->stream, &graph);
  g->capturing = false;
  set_current_stream(g->device, g->previous_stream);
  device_allocator(g->device)->end_private_pool(g->stream);
  if (end != cudaSuccess || !graph) {
    (void)cudaGetLastError();
    if (graph) (void)cudaGraphDestroy(graph);
    throw DeviceError(str("CudaGraph.capture_end: the capture failed (", cudaGetErrorString(end),
                          "); a call during capture waited for the device or used another stream"));
  }
  const cudaError_t inst = cudaGraphInstantiate(&g->exec, graph, 0);
  (void)cudaGraphDestroy(graph);  // the executable graph is independent of it
  ANNEAL_CUDA_CHECK(inst, "CudaGraph.capture_end (cudaGraphInstantiate)");
}

void graph_replay(void* handle) {
  auto* g = static_cast<GraphCapture*>(handle);
  ANNEAL_CHECK(g->exec, ValueError, "CudaGraph.replay: nothing was captured (capture_begin ... capture_end first)");
  DeviceGuard guard(g->device);
  ANNEAL_CUDA_CHECK(cudaGraphLaunch(g->exec, static_cast<cudaStream_t>(current_stream(g->device))), "CudaGraph.replay");
}

bool graph_captured(void* handle) { return static_cast<GraphCapture*>(handle)->exec != nullptr; }

void graph_destroy(void* handle) {
  auto* g = static_cast<GraphCapture*>(handle);
  DeviceGuard guard(g->device);
  if (g->capturing) {  // an error left the capture open: close it and drop what it recorded
    cudaGraph_t graph = nullptr;
    (void)cudaStreamEndCapture(g->stream, &graph);
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    set_current_stream(g->device, g->previous_stream);
    device_allocator(g->device)->end_private_pool(g->stream);
  }
  if (g->exec) {
    (void)cudaDeviceSynchronize();  // a replay may still be using the pool's memory
    (void)cudaGraphExecDestroy(g->exec);
  }
  device_allocator(g->device)->release_private_pool(g->pool);
  if (g->stream) (void)cudaStreamDestroy(g->stream);
  delete g;
}

bool is_capturing(int device) {
  DeviceGuard guard(device);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  ANNEAL_CUDA_CHECK(cudaStreamIsCapturing(static_cast<cudaStream_t>(current_stream(device)), &status),
                    "cuda_is_capturing");
  return status == cudaStreamCaptureStatusActive;
}

}  // namespace anneal::cuda
