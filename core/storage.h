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
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Allocator* allocator_;  // null for borrowed memory
  std::function<void(void*)> deleter_;
};
using Storage = std::shared_ptr<StorageImpl>;

// Counts in-place writes to a storage; views share it, so a saved tensor notices when
// any alias of it was modified.
struct VersionCounter {
  std::atomic<uint64_t> version{0};
};

}  // namespace anneal
