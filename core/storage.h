#pragma once
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

#include "core/allocator.h"

namespace anneal {

// A buffer of bytes on one device. Owned by the allocator it came from, or borrowed
// from outside (from_blob) with an optional deleter that runs when the last tensor goes.
class StorageImpl {
 public:
  StorageImpl(size_t nbytes, Allocator* allocator);
  StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  // In-place writes to this memory; views and detached tensors share it, so a tensor
  // saved for backward notices when any alias of it was modified.
  std::atomic<uint64_t>& version() { return version_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  Allocator* allocator() const { return allocator_; }  // null for borrowed memory

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Allocator* allocator_;  // null for borrowed memory
  std::function<void(void*)> deleter_;
  std::atomic<uint64_t> version_{0};
};
using Storage = std::shared_ptr<StorageImpl>;


}  // namespace anneal
