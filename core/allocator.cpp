#include "core/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace anneal {
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

class CpuCachingAllocator final : public Allocator {
 public:
  ~CpuCachingAllocator() override { empty_cache(); }

  void* allocate(size_t nbytes) override {
    if (nbytes == 0) nbytes = 1;
    size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    void* p = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      cached_ -= size;
      ++stats_.num_cache_hits;
    } else {
      p = std::aligned_alloc(kAlignment, size);
      if (!p) {  // give the cache back and try once more before failing
        release_all_locked();
        p = std::aligned_alloc(kAlignment, size);
      }
      ANNEAL_CHECK(p != nullptr, Error, "CPU allocator: out of memory allocating ", nbytes, " bytes (",
                   stats_.allocated_bytes, " bytes in use)");
      ++stats_.num_system_allocs;
      stats_.reserved_bytes += size;
    }
    stats_.allocated_bytes += size;
    if (stats_.allocated_bytes > stats_.peak_allocated_bytes) stats_.peak_allocated_bytes = stats_.allocated_bytes;
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    if (!ptr) return;
    if (nbytes == 0) nbytes = 1;
    size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.allocated_bytes -= size;
    if (cached_ + size > kMaxCachedBytes) {
      std::free(ptr);
      stats_.reserved_bytes -= size;
      return;
    }
    free_[size].push_back(ptr);
    cached_ += size;
  }

  Device device() const override { return kCPU; }
  MemoryStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void reset_peak_stats() override {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }
  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    release_all_locked();
  }

 private:
  void release_all_locked() {
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) std::free(p);
      stats_.reserved_bytes -= int64_t(size * blocks.size());
    }
    free_.clear();
    cached_ = 0;
  }

  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  MemoryStats stats_;
};

}  // namespace

Allocator* cpu_allocator() {
  // Leaked on purpose: tensors in static objects may be freed after main returns.
  static Allocator* a = new CpuCachingAllocator();
  return a;
}

}  // namespace anneal
