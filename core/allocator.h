#pragma once
// Allocators hand out device memory and keep statistics. The CPU one caches freed
// blocks by size: a training step allocates the same activation sizes every step, and
// reusing warm pages avoids the page faults that fresh mmap'd memory costs (5-13 µs
// each here), which is what makes a naive malloc-per-tensor framework slow on CNNs.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace anneal {

struct MemoryStats {
  int64_t allocated_bytes = 0;       // in live tensors now
  int64_t peak_allocated_bytes = 0;  // high-water mark of allocated_bytes
  int64_t reserved_bytes = 0;        // allocated + held in the cache
  int64_t num_system_allocs = 0;     // calls that went to the system (cache misses)
  int64_t num_cache_hits = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual Device device() const = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak_stats() = 0;
  virtual void empty_cache() = 0;  // return cached blocks to the system
};

// The process-wide caching allocator for host memory (64-byte aligned).
Allocator* cpu_allocator();

}  // namespace anneal
