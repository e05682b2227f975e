// The stream-aware caching allocator's bookkeeping, driven on the CPU with fake streams
// and events: splitting and merging, per-stream reuse, record_stream, private pools,
// the out-of-memory path and the statistics.
#include "core/stream_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "core/error.h"

namespace anneal {
namespace {

// Streams are small integers cast to pointers; events are flags the test completes.
class FakeDeviceAllocator final : public StreamCachingAllocator {
 public:
  ~FakeDeviceAllocator() override {
    empty_cache();
    for (void* p : segments) std::free(p);
  }
  Device device() const override { return kCPU; }

  StreamId stream = nullptr;
  size_t capacity = size_t(1) << 40;  // system_alloc refuses beyond this many bytes held
  size_t held = 0;
  std::set<void*> segments;
  std::vector<bool*> events;  // recorded, not yet destroyed
  int system_frees = 0;

  void complete_events() {
    for (bool* e : events) *e = true;
  }

 protected:
  StreamId current_stream() const override { return stream; }
  void* system_alloc(size_t size) override {
    if (held + size > capacity) return nullptr;
    void* p = std::aligned_alloc(512, size);
    segments.insert(p);
    held += size;
    sizes[p] = size;
    return p;
  }
  void system_free(void* p) override {
    ASSERT_TRUE(segments.count(p)) << "freed a pointer that is not a segment start";
    segments.erase(p);
    held -= sizes[p];
    ++system_frees;
    std::free(p);
  }
  void* record_event(StreamId) override {
    events.push_back(new bool(false));
    return events.back();
  }
  bool event_done(void* e) override { return *static_cast<bool*>(e); }
  void wait_event(void* e) override { *static_cast<bool*>(e) = true; }
  void destroy_event(void* e) override {
    std::erase(events, static_cast<bool*>(e));
    delete static_cast<bool*>(e);
  }
  std::string out_of_memory_message(size_t nbytes, const MemoryStats& s) const override {
    return str("fake device out of memory: ", nbytes, " bytes requested, ", s.reserved_bytes, " reserved");
  }

 private:
  std::map<void*, size_t> sizes;
};

void* stream_id(int i) { return reinterpret_cast<void*>(uintptr_t(i)); }
constexpr size_t kMB = 1 << 20;

TEST(StreamAllocator, SmallRequestsShareOneSegmentAndSplitInOrder) {
  FakeDeviceAllocator a;
  char* p = static_cast<char*>(a.allocate(1000));  // rounds to 1024
  char* q = static_cast<char*>(a.allocate(100));   // rounds to 512
  char* r = static_cast<char*>(a.allocate(4096));
  EXPECT_EQ(q, p + 1024);
  EXPECT_EQ(r, q + 512);
  const MemoryStats s = a.stats();
  EXPECT_EQ(s.num_system_allocs, 1);
  EXPECT_EQ(s.reserved_bytes, int64_t(2 * kMB));
  EXPECT_EQ(s.allocated_bytes, 1024 + 512 + 4096);
  EXPECT_EQ(a.num_segments(), 1u);
  a.deallocate(p, 1000);
  a.deallocate(q, 100);
  a.deallocate(r, 4096);
  EXPECT_EQ(a.stats().allocated_bytes, 0);
  EXPECT_EQ(a.stats().peak_allocated_bytes, 1024 + 512 + 4096);
}

TEST(StreamAllocator, FreedNeighboursMergeBackIntoTheWholeSegment) {
  FakeDeviceAllocator a;
  std::vector<void*> quarter;
  for (int i = 0; i < 4; ++i) quarter.push_back(a.allocate(512 * 1024));  // 4 x 512 KB = one 2 MB segment
  EXPECT_EQ(a.num_segments(), 1u);
  // Free out of order: the middle two first, then the ends; all four must merge.
  a.deallocate(quarter[1], 0);
  a.deallocate(quarter[2], 0);
  a.deallocate(quarter[0], 0);
  a.deallocate(quarter[3], 0);
  // A 1 MB request fits only if the blocks merged; it starts the segment.
  void* big = a.allocate(kMB);
  EXPECT_EQ(big, quarter[0]);
  EXPECT_EQ(a.stats().num_system_allocs, 1);
  a.deallocate(big, 0);
  a.empty_cache();
  EXPECT_EQ(a.num_segments(), 0u);
  EXPECT_EQ(a.stats().reserved_bytes, 0);
  EXPECT_EQ(a.system_frees, 1);
}

TEST(StreamAllocator, LargeRequestsUseLargeSegmentsAndKeepSmallTailsUnsplit) {
  FakeDeviceAllocator a;
  void* p = a.allocate(3 * kMB);  // < 10 MB: a 20 MB segment, split (17 MB tail)
  EXPECT_EQ(a.stats().reserved_bytes, int64_t(20 * kMB));
  void* q = a.allocate(16 * kMB + kMB / 2);  // from the tail; the 0.5 MB rest stays with it
  EXPECT_EQ(static_cast<char*>(q), static_cast<char*>(p) + 3 * kMB);
  EXPECT_EQ(a.stats().allocated_bytes, int64_t(20 * kMB));
  void* huge = a.allocate(25 * kMB + 1);  // >= 10 MB: its own segment, rounded to 2 MB
  EXPECT_EQ(a.stats().reserved_bytes, int64_t(20 * kMB + 26 * kMB));
  EXPECT_EQ(a.num_segments(), 2u);
  a.deallocate(p, 0);
  a.deallocate(q, 0);
  a.deallocate(huge, 0);
  // Small requests never take from large segments.
  void* s = a.allocate(1000);
  EXPECT_EQ(a.num_segments(), 3u);
  a.deallocate(s, 0);
}

TEST(StreamAllocator, BlocksAreReusedOnlyByTheirOwnStream) {
  FakeDeviceAllocator a;
  a.stream = stream_id(1);
  void* p = a.allocate(kMB);
  a.deallocate(p, 0);
  a.stream = stream_id(2);
  void* q = a.allocate(kMB);  // stream 2 must not get stream 1's block
  EXPECT_NE(q, p);
  EXPECT_EQ(a.stats().num_system_allocs, 2);
  a.stream = stream_id(1);
  void* r = a.allocate(kMB);
  EXPECT_EQ(r, p);
  a.deallocate(q, 0);
  a.deallocate(r, 0);
}

TEST(StreamAllocator, RecordStreamDelaysReuseUntilTheOtherStreamsWorkIsDone) {
  FakeDeviceAllocator a;
  a.stream = stream_id(1);
  void* p = a.allocate(kMB);
  a.record_stream(p, stream_id(2));
  a.record_stream(p, stream_id(2));  // recorded once
  a.record_stream(p, stream_id(1));  // its own stream: nothing to wait for
  a.deallocate(p, 0);
  EXPECT_EQ(a.events.size(), 1u);
  void* q = a.allocate(kMB);  // stream 2's work may still read p
  EXPECT_NE(q, p);
  a.complete_events();
  void* r = a.allocate(kMB);
  EXPECT_EQ(r, p);
  EXPECT_TRUE(a.events.empty());
  a.deallocate(q, 0);
  a.deallocate(r, 0);
  EXPECT_THROW(a.record_stream(r, stream_id(2)), ValueError);  // no longer live
}

TEST(StreamAllocator, EmptyCacheWaitsForPendingFreesAndKeepsSegmentsInUse) {
  FakeDeviceAllocator a;
  void* p = a.allocate(kMB);
  void* q = a.allocate(kMB);  // same small segment as p
  void* big = a.allocate(12 * kMB);
  a.record_stream(big, stream_id(5));
  a.deallocate(big, 0);
  a.deallocate(p, 0);
  a.empty_cache();  // the big segment goes (after its event), the small one holds q
  EXPECT_EQ(a.num_segments(), 1u);
  EXPECT_EQ(a.stats().reserved_bytes, int64_t(2 * kMB));
  EXPECT_TRUE(a.events.empty());
  a.deallocate(q, 0);
}

TEST(StreamAllocator, OutOfMemoryFreesTheCacheRetriesThenRaisesAndStaysUsable) {
  FakeDeviceAllocator a;
  a.capacity = 40 * kMB;
  void* p = a.allocate(12 * kMB);
  void* q = a.allocate(12 * kMB);
  a.deallocate(p, 0);  // cached, not returned
  // 20 MB more does not fit beside the 24 cached+live: the cache goes back, then it fits.
  void* r = a.allocate(20 * kMB);
  EXPECT_EQ(a.system_frees, 1);
  EXPECT_EQ(a.stats().reserved_bytes, int64_t(32 * kMB));
  try {
    a.allocate(30 * kMB);
    FAIL() << "expected out of memory";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("31457280 bytes requested"), std::string::npos) << msg;
    EXPECT_NE(msg.find("33554432 reserved"), std::string::npos) << msg;
  }
  // Still usable: a request that fits succeeds and the numbers add up.
  void* s = a.allocate(kMB);
  EXPECT_EQ(a.stats().allocated_bytes, int64_t(12 * kMB + 20 * kMB + kMB));
  for (void* x : {q, r, s}) a.deallocate(x, 0);
  EXPECT_EQ(a.stats().allocated_bytes, 0);
}

TEST(StreamAllocator, PrivatePoolsServeTheCapturingStreamOnlyAndOutliveTheirFrees) {
  FakeDeviceAllocator a;
  a.stream = stream_id(1);
  void* shared = a.allocate(kMB);
  a.deallocate(shared, 0);  // a free block in the shared pool

  a.begin_private_pool(7, stream_id(1));
  void* g1 = a.allocate(kMB);  // must not take the shared pool's free block
  EXPECT_NE(g1, shared);
  a.deallocate(g1, 0);  // back to the private pool: reused inside it
  void* g2 = a.allocate(kMB);
  EXPECT_EQ(g2, g1);
  a.end_private_pool(stream_id(1));
  EXPECT_THROW(a.begin_private_pool(0, stream_id(1)), ValueError);

  // After capture, the shared pool does not hand out the private pool's memory and
  // empty_cache keeps it (the graph replays into it).
  void* after = a.allocate(kMB);
  EXPECT_EQ(after, shared);
  void* again = a.allocate(kMB);
  EXPECT_NE(again, g1);
  a.deallocate(g2, 0);
  a.empty_cache();
  EXPECT_EQ(a.num_segments(), 2u);  // the shared one (in use) and the private one

  a.release_private_pool(7);  // the graph is gone: its free segment goes back
  EXPECT_EQ(a.num_segments(), 1u);
  a.deallocate(after, 0);
  a.deallocate(again, 0);
}

TEST(StreamAllocator, ReleasedPoolReturnsSegmentsAsTheirLastBlocksAreFreed) {
  FakeDeviceAllocator a;
  a.begin_private_pool(3, nullptr);
  void* out = a.allocate(4096);  // e.g. a graph's output, alive after the graph
  a.end_private_pool(nullptr);
  a.release_private_pool(3);
  EXPECT_EQ(a.num_segments(), 1u);
  a.deallocate(out, 0);
  EXPECT_EQ(a.num_segments(), 0u);
  EXPECT_EQ(a.stats().reserved_bytes, 0);
}

TEST(StreamAllocator, FreeingAForeignPointerIsAnError) {
  FakeDeviceAllocator a;
  int x = 0;
  EXPECT_THROW(a.deallocate(&x, 4), Error);
}

}  // namespace
}  // namespace anneal
