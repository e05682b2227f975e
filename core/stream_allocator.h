#pragma once
// A caching allocator for devices whose work runs asynchronously on streams (CUDA), in
// the manner of PyTorch's CUDACachingAllocator:
// - memory comes from the system in segments (2 MB for requests up to 1 MB, 20 MB for
//   requests under 10 MB, the request rounded to 2 MB above that), which are split into
//   blocks and merged back when neighbouring blocks are free, so a training step's many
//   sizes share few cudaMalloc calls;
// - a freed block is reused only by the stream it was allocated on: work queued there
//   before the free runs before any later work that reuses it, so no synchronisation is
//   needed. A block used on other streams too (record_stream) is reused only after an
//   event recorded on each of those streams at free time has completed;
// - private pools (CUDA graph capture): allocations made on a capturing stream come from
//   a pool of their own that no one else takes from while the graph may replay;
// - out of memory: wait for pending frees, give every wholly free segment back, retry
//   once, then raise an error that states the request and the allocator's numbers.
// The device is reached only through the virtual hooks below, so the bookkeeping is
// plain C++ and is tested on the CPU with fake streams and events.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"

namespace anneal {

class StreamCachingAllocator : public Allocator {
 public:
  using StreamId = void*;  // a native stream handle; null is the default stream
  using PoolId = uint64_t; // 0 is the shared pool

  static constexpr size_t kMinBlockSize = 512;       // every block is a multiple of this
  static constexpr size_t kSmallSize = 1 << 20;      // requests up to this use small segments
  static constexpr size_t kSmallSegment = 2 << 20;   // segment size for small requests
  static constexpr size_t kLargeSegment = 20 << 20;  // segment size for requests under kMinLargeAlloc
  static constexpr size_t kMinLargeAlloc = 10 << 20;
  static constexpr size_t kRoundLarge = 2 << 20;     // larger requests round to this

  ~StreamCachingAllocator() override = default;
  void* allocate(size_t nbytes) override;  // on the current stream, from its pool
  void deallocate(void* ptr, size_t nbytes) override;
  MemoryStats stats() const override;
  void reset_peak_stats() override;
  void empty_cache() override;  // waits for pending frees, returns wholly free segments
  void record_stream(void* ptr, void* stream) override;

  // Allocations made on `stream` come from private pool `id` (created on first use)
  // until end_private_pool(stream). Frees of the pool's blocks return to it.
  void begin_private_pool(PoolId id, StreamId stream);
  void end_private_pool(StreamId stream);
  // The pool's owner is gone: its wholly free segments go back to the system now, the
  // rest as their blocks are freed.
  void release_private_pool(PoolId id);

  size_t num_segments() const;  // segments held from the system (for tests and stats)

 protected:
  StreamCachingAllocator() = default;
  virtual StreamId current_stream() const = 0;
  virtual void* system_alloc(size_t size) = 0;  // null when the device refuses
  virtual void system_free(void* ptr) = 0;
  virtual void* record_event(StreamId stream) = 0;  // an event marking the stream's queued work
  virtual bool event_done(void* event) = 0;
  virtual void wait_event(void* event) = 0;
  virtual void destroy_event(void* event) = 0;
  // While a stream is being captured, waiting on or freeing device memory is illegal.
  virtual bool capture_underway() const { return !routes_.empty(); }
  virtual std::string out_of_memory_message(size_t nbytes, const MemoryStats& now) const = 0;

 private:
  struct Block {
    size_t size = 0;
    char* ptr = nullptr;
    StreamId stream = nullptr;
    PoolId pool = 0;
    bool small = false;
    bool allocated = false;
    int pending_events = 0;
    Block* prev = nullptr;  // neighbours inside the same segment
    Block* next = nullptr;
    std::vector<StreamId> stream_uses;  // other streams that used it (record_stream)
  };
  struct BlockOrder {  // best fit: by stream, then size, then address
    bool operator()(const Block* a, const Block* b) const;
  };
  using FreeSet = std::set<Block*, BlockOrder>;
  struct Pool {
    FreeSet small, large;
    bool released = false;
    FreeSet& set(bool small_block) { return small_block ? small : large; }
  };

  static size_t round_size(size_t nbytes);
  static size_t segment_size(size_t size);
  Block* find_free_block(Pool& pool, StreamId stream, size_t size, bool small);
  Block* new_segment(PoolId pool, StreamId stream, size_t size, bool small, size_t nbytes);
  void free_block(Block* block);
  void try_merge(Block* dst, Block* src, FreeSet& set);
  void process_events();
  void wait_all_events();
  void release_free_segments(PoolId pool, Pool& p);
  void release_all_free_segments();
  void drop_pool_if_empty(PoolId id);

  mutable std::mutex mu_;
  std::map<PoolId, Pool> pools_;
  std::unordered_map<void*, Block*> live_;               // allocated blocks by address
  std::vector<std::pair<void*, Block*>> pending_;         // (event, block) of deferred frees
  std::unordered_map<StreamId, PoolId> routes_;           // capturing stream -> private pool
  std::unordered_map<PoolId, size_t> segments_per_pool_;  // to drop released pools
  size_t segments_ = 0;
  MemoryStats stats_;
};

}  // namespace anneal
