#include "core/stream_allocator.h"

#include <functional>

#include "core/error.h"

namespace anneal {

bool StreamCachingAllocator::BlockOrder::operator()(const Block* a, const Block* b) const {
  if (a->stream != b->stream) return std::less<void*>()(a->stream, b->stream);
  if (a->size != b->size) return a->size < b->size;
  return std::less<char*>()(a->ptr, b->ptr);
}

size_t StreamCachingAllocator::round_size(size_t nbytes) {
  if (nbytes < kMinBlockSize) return kMinBlockSize;
  return (nbytes + kMinBlockSize - 1) / kMinBlockSize * kMinBlockSize;
}

size_t StreamCachingAllocator::segment_size(size_t size) {
  if (size <= kSmallSize) return kSmallSegment;
  if (size < kMinLargeAlloc) return kLargeSegment;
  return (size + kRoundLarge - 1) / kRoundLarge * kRoundLarge;
}

void* StreamCachingAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (!capture_underway()) process_events();
  const StreamId stream = current_stream();
  const auto route = routes_.find(stream);
  const PoolId pool_id = route == routes_.end() ? 0 : route->second;
  Pool& pool = pools_[pool_id];
  const bool small = size <= kSmallSize;

  Block* block = find_free_block(pool, stream, size, small);
  if (block) {
    ++stats_.num_cache_hits;
  } else {
    block = new_segment(pool_id, stream, size, small, nbytes);
  }
  // Split off the tail when it is worth keeping: any remainder of a small segment, more
  // than a small request's worth of a large one (smaller tails would only fragment).
  const size_t remaining = block->size - size;
  if (small ? remaining >= kMinBlockSize : remaining > kSmallSize) {
    auto* rest = new Block;
    rest->ptr = block->ptr + size;
    rest->size = remaining;
    rest->stream = stream;
    rest->pool = pool_id;
    rest->small = small;
    rest->prev = block;
    rest->next = block->next;
    if (block->next) block->next->prev = rest;
    block->next = rest;
    block->size = size;
    pool.set(small).insert(rest);
  }
  block->allocated = true;
  live_[block->ptr] = block;
  stats_.allocated_bytes += int64_t(block->size);
  if (stats_.allocated_bytes > stats_.peak_allocated_bytes) stats_.peak_allocated_bytes = stats_.allocated_bytes;
  return block->ptr;
}

StreamCachingAllocator::Block* StreamCachingAllocator::find_free_block(Pool& pool, StreamId stream, size_t size,
                                                                       bool small) {
  FreeSet& set = pool.set(small);
  Block key;
  key.stream = stream;
  key.size = size;
  auto it = set.lower_bound(&key);
  if (it == set.end() || (*it)->stream != stream) return nullptr;
  Block* block = *it;
  set.erase(it);
  return block;
}

StreamCachingAllocator::Block* StreamCachingAllocator::new_segment(PoolId pool_id, StreamId stream, size_t size,
                                                                   bool small, size_t nbytes) {
  const size_t seg = segment_size(size);
  void* p = system_alloc(seg);
  if (!p && !capture_underway()) {  // give back what is cached and try once more
    wait_all_events();
    release_all_free_segments();
    p = system_alloc(seg);
  }
  if (!p) throw Error(out_of_memory_message(nbytes, stats_));
  auto* block = new Block;
  block->ptr = static_cast<char*>(p);
  block->size = seg;
  block->stream = stream;
  block->pool = pool_id;
  block->small = small;
  ++segments_;
  ++segments_per_pool_[pool_id];
  ++stats_.num_system_allocs;
  stats_.reserved_bytes += int64_t(seg);
  return block;
}

void StreamCachingAllocator::deallocate(void* ptr, size_t /*nbytes*/) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = live_.find(ptr);
  // A pointer this allocator never gave out is a bug in the caller; freeing it would
  // corrupt the pools, so stop here.
  ANNEAL_CHECK(it != live_.end(), Error, "device allocator: freeing ", ptr, ", which it did not allocate");
  Block* block = it->second;
  live_.erase(it);
  block->allocated = false;
  stats_.allocated_bytes -= int64_t(block->size);
  if (!block->stream_uses.empty() && !capture_underway()) {
    // Reuse waits until the work queued now on every other stream that used it is done.
    for (StreamId s : block->stream_uses) {
      pending_.emplace_back(record_event(s), block);
      ++block->pending_events;
    }
    block->stream_uses.clear();
    return;
  }
  block->stream_uses.clear();
  free_block(block);
}

void StreamCachingAllocator::free_block(Block* block) {
  Pool& pool = pools_[block->pool];
  FreeSet& set = pool.set(block->small);
  try_merge(block, block->prev, set);
  try_merge(block, block->next, set);
  set.insert(block);
  if (pool.released && !block->prev && !block->next) {
    set.erase(block);
    system_free(block->ptr);
    stats_.reserved_bytes -= int64_t(block->size);
    --segments_;
    --segments_per_pool_[block->pool];
    const PoolId id = block->pool;
    delete block;
    drop_pool_if_empty(id);
  }
}

void StreamCachingAllocator::try_merge(Block* dst, Block* src, FreeSet& set) {
  if (!src || src->allocated || src->pending_events > 0) return;
  set.erase(src);
  if (dst->prev == src) {
    dst->ptr = src->ptr;
    dst->prev = src->prev;
    if (dst->prev) dst->prev->next = dst;
  } else {
    dst->next = src->next;
    if (dst->next) dst->next->prev = dst;
  }
  dst->size += src->size;
  delete src;
}

void StreamCachingAllocator::process_events() {
  size_t kept = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    auto [event, block] = pending_[i];
    if (!event_done(event)) {
      pending_[kept++] = pending_[i];
      continue;
    }
    destroy_event(event);
    if (--block->pending_events == 0) free_block(block);
  }
  pending_.resize(kept);
}

void StreamCachingAllocator::wait_all_events() {
  for (auto [event, block] : pending_) {
    wait_event(event);
    destroy_event(event);
    if (--block->pending_events == 0) free_block(block);
  }
  pending_.clear();
}

void StreamCachingAllocator::release_free_segments(PoolId pool_id, Pool& pool) {
  for (FreeSet* set : {&pool.small, &pool.large}) {
    for (auto it = set->begin(); it != set->end();) {
      Block* block = *it;
      if (block->prev || block->next) {  // part of a segment still in use
        ++it;
        continue;
      }
      it = set->erase(it);
      system_free(block->ptr);
      stats_.reserved_bytes -= int64_t(block->size);
      --segments_;
      --segments_per_pool_[pool_id];
      delete block;
    }
  }
}

void StreamCachingAllocator::release_all_free_segments() {
  // A live private pool keeps its free blocks: a captured graph replays into them.
  std::vector<PoolId> released;
  for (auto& [id, pool] : pools_) {
    if (id != 0 && !pool.released) continue;
    release_free_segments(id, pool);
    if (id != 0) released.push_back(id);
  }
  for (PoolId id : released) drop_pool_if_empty(id);
}

void StreamCachingAllocator::drop_pool_if_empty(PoolId id) {
  if (id == 0 || segments_per_pool_[id] != 0) return;
  for (const auto& [stream, routed] : routes_)
    if (routed == id) return;
  pools_.erase(id);
  segments_per_pool_.erase(id);
}

void StreamCachingAllocator::record_stream(void* ptr, void* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = live_.find(ptr);
  ANNEAL_CHECK(it != live_.end(), ValueError, "record_stream: ", ptr, " is not the start of a live device block");
  Block* block = it->second;
  if (stream == block->stream) return;
  for (StreamId s : block->stream_uses)
    if (s == stream) return;
  block->stream_uses.push_back(stream);
}

void StreamCachingAllocator::begin_private_pool(PoolId id, StreamId stream) {
  ANNEAL_CHECK(id != 0, ValueError, "begin_private_pool: pool 0 is the shared pool");
  std::lock_guard<std::mutex> lock(mu_);
  ANNEAL_CHECK(!pools_[id].released, ValueError, "begin_private_pool: pool ", id, " was already released");
  ANNEAL_CHECK(!routes_.count(stream), ValueError, "begin_private_pool: the stream already allocates from pool ",
               routes_[stream]);
  routes_[stream] = id;
}

void StreamCachingAllocator::end_private_pool(StreamId stream) {
  std::lock_guard<std::mutex> lock(mu_);
  routes_.erase(stream);
}

void StreamCachingAllocator::release_private_pool(PoolId id) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = pools_.find(id);
  if (id == 0 || it == pools_.end()) return;
  it->second.released = true;
  release_free_segments(id, it->second);
  drop_pool_if_empty(id);
}

MemoryStats StreamCachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void StreamCachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
}

void StreamCachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  if (capture_underway()) return;  // freeing device memory would break the capture
  wait_all_events();
  release_all_free_segments();
}

size_t StreamCachingAllocator::num_segments() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_;
}

}  // namespace anneal
