#include "core/allocator.h"

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace anneal {

void* CachingAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  const size_t size = round(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    cached_ -= size;
    ++stats_.num_cache_hits;
  } else {
    p = system_alloc(size);
    if (!p) {  // give the cache back and try once more before failing
      release_all_locked();
      p = system_alloc(size);
    }
    if (!p) throw Error(out_of_memory_message(nbytes, stats_));
    ++stats_.num_system_allocs;
    stats_.reserved_bytes += int64_t(size);
  }
  stats_.allocated_bytes += int64_t(size);
  if (stats_.allocated_bytes > stats_.peak_allocated_bytes) stats_.peak_allocated_bytes = stats_.allocated_bytes;
  return p;
}

void CachingAllocator::deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  if (nbytes == 0) nbytes = 1;
  const size_t size = round(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.allocated_bytes -= int64_t(size);
  if (cached_ + size > max_cached_) {
    system_free(ptr);
    stats_.reserved_bytes -= int64_t(size);
    return;
  }
  // Deallocation runs in destructors and must not throw: when even the cache's own
  // bookkeeping cannot allocate (memory exhausted), the block goes back to the system.
  try {
    free_[size].push_back(ptr);
  } catch (const std::bad_alloc&) {
    system_free(ptr);
    stats_.reserved_bytes -= int64_t(size);
    return;
  }
  cached_ += size;
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_all_locked();
}

void CachingAllocator::release_all_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) system_free(p);
    stats_.reserved_bytes -= int64_t(size * blocks.size());
  }
  free_.clear();
  cached_ = 0;
}

namespace {

constexpr size_t kAlignment = 64;
// Cached bytes beyond this go back to the system, so a burst of huge tensors does not
// pin memory forever.
constexpr size_t kMaxCachedBytes = size_t(4) << 30;

size_t round_size(size_t n) {
  if (n <= 4096) return (n + kAlignment - 1) & ~(kAlignment - 1);
  // Round large blocks to 1/8 of their power of two, so near sizes share blocks.
  size_t p = 4096;
  while (p * 2 <= n) p *= 2;
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

class CpuCachingAllocator final : public CachingAllocator {
 public:
  CpuCachingAllocator() : CachingAllocator(kMaxCachedBytes) {}
  ~CpuCachingAllocator() override { empty_cache(); }
  Device device() const override { return kCPU; }

 private:
  size_t round(size_t nbytes) const override { return round_size(nbytes); }
  void* system_alloc(size_t size) override { return std::aligned_alloc(kAlignment, size); }
  void system_free(void* p) override { std::free(p); }
  std::string out_of_memory_message(size_t nbytes, const MemoryStats& now) const override {
    return str("CPU allocator: out of memory allocating ", nbytes, " bytes (", now.allocated_bytes, " bytes in use)");
  }
};

}  // namespace

Allocator* cpu_allocator() {
  // Leaked on purpose: tensors in static objects may be freed after main returns.
  static Allocator* a = new CpuCachingAllocator();
  return a;
}

}  // namespace anneal
