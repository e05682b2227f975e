#pragma once
// Devices and what they offer: the CUDA device count and availability, a device's
// allocator, page-locked host memory, TF32, synchronisation. Plain C++: the CUDA calls
// are behind it (runtime/device.cpp reaches the CUDA backend's entry points).
#include "core/allocator.h"
#include "core/device.h"

namespace anneal {

bool cuda_is_available();
int cuda_device_count();
bool cuda_is_built();  // compiled with the CUDA backend (whether or not a GPU is present)
// DeviceError unless `d` is the CPU or an existing CUDA device (naming why not).
void require_device(Device d);
// The allocator of a device (a DeviceError as require_device).
Allocator* allocator_for(Device d);
// float32 matrix products on CUDA may use TF32 tensor cores (10-bit mantissa inputs,
// float32 accumulation): faster, ~1e-3 relative error. Off by default, as in PyTorch.
void cuda_set_allow_tf32(bool allow);
bool cuda_allow_tf32();
// Page-locked host memory, which CUDA copies from and to asynchronously and at full
// speed; null when no CUDA device is available.
Allocator* pinned_host_allocator();
// Waits for all work queued on a CUDA device (-1: the current one); a DeviceError when
// there is no such device.
void cuda_synchronize(int device = -1);

}  // namespace anneal
