#pragma once
// Allocators hand out device memory and keep statistics. The CPU one caches freed
// blocks by size: a training step allocates the same activation sizes every step, and
// reusing warm pages avoids the page faults that fresh mmap'd memory costs (5-13 µs
// each here), which is what makes a naive malloc-per-tensor framework slow on CNNs.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
  // `ptr` (a block this allocator gave out) is also used by work on `stream` (a native
  // stream handle); its memory must not be reused before that work is done. A no-op for
  // allocators without streams.
  virtual void record_stream(void* /*ptr*/, void* /*stream*/) {}
};

// Keeps freed blocks in per-size lists and hands them out again; the memory itself
// comes from system_alloc (aligned_alloc, cudaMalloc, cudaHostAlloc, ...). When the
// system refuses, the cache is given back and the request tried once more; a second
// refusal throws with out_of_memory_message.
class CachingAllocator : public Allocator {
 public:
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  MemoryStats stats() const override;
  void reset_peak_stats() override;
  void empty_cache() override;

 protected:
  explicit CachingAllocator(size_t max_cached_bytes = SIZE_MAX) : max_cached_(max_cached_bytes) {}
  virtual size_t round(size_t nbytes) const = 0;
  virtual void* system_alloc(size_t size) = 0;  // null when the system refuses
  virtual void system_free(void* ptr) = 0;
  virtual std::string out_of_memory_message(size_t nbytes, const MemoryStats& now) const = 0;

 private:
  void release_all_locked();
  const size_t max_cached_;  // freed bytes beyond this go straight back to the system
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  MemoryStats stats_;
};

// The process-wide caching allocator for host memory (64-byte aligned).
Allocator* cpu_allocator();

}  // namespace anneal
