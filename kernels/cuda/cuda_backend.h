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

}  // namespace anneal::cuda
