#pragma once
// The entry points of the CUDA backend, in plain C++ so that code outside kernels/cuda
// can reach it without including a CUDA header.
#include "core/allocator.h"
#include "kernels/backend.h"

namespace anneal::cuda {

int device_count();  // 0 when the driver, runtime or device is missing: never throws
Backend& backend(int device_index);
Allocator* allocator(int device_index);
void synchronize(int device_index);  // -1: the current device
Allocator* pinned_allocator();       // page-locked host memory (cudaHostAlloc), cached

// Streams and events as opaque handles (cudaStream_t / cudaEvent_t; null: the default
// stream), behind anneal::CudaStream / CudaEvent (runtime/cuda_stream.h).
void* stream_create(int device);
void stream_destroy(int device, void* stream);
void stream_synchronize(int device, void* stream);
bool stream_query(int device, void* stream);
void* current_stream(int device);  // this thread's
void set_current_stream(int device, void* stream);
void stream_wait_event(int device, void* stream, void* event);
void* event_create(int device, bool timing);
void event_destroy(int device, void* event);
void event_record(int device, void* event, void* stream);
void event_synchronize(void* event);
bool event_query(void* event);
double event_elapsed_ms(void* start, void* end);

// CUDA graphs (kernels/cuda/graphs.cu), behind anneal::CudaGraph (runtime/cuda_graph.h).
void* graph_create(int device);
void graph_capture_begin(void* graph);
void graph_capture_end(void* graph);
void graph_replay(void* graph);
bool graph_captured(void* graph);
void graph_destroy(void* graph);  // ends an open capture, frees the graph and its pool
bool is_capturing(int device);    // this thread's current stream there

}  // namespace anneal::cuda
