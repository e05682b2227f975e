#pragma once
// The CPU thread pool (OpenMP underneath). Work is split into chunks whose bounds depend
// only on the problem size and the grain, never on the thread count, so reductions
// that combine per-chunk partials give the same bits with 1 thread or 16.
#include <cstdint>

namespace anneal {

void set_num_threads(int n);  // also read once from ANNEAL_NUM_THREADS
int get_num_threads();

namespace cpu {

bool in_parallel_region();

// Inside this scope the calling thread's parallel_for calls run inline: for work too
// small to repay waking the thread team (a few microseconds).
class SerialScope {
 public:
  SerialScope() : prev_(serial_) { serial_ = true; }
  ~SerialScope() { serial_ = prev_; }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;
  static bool active() { return serial_; }

 private:
  static inline thread_local bool serial_ = false;
  bool prev_;
};
void parallel_for_impl(int64_t nchunks, void (*fn)(void*, int64_t), void* ctx);

// Calls f(begin, end) over [0, n) in chunks of about `grain` elements; runs inline when
// the work is small or when already inside a parallel region.
template <typename F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t nchunks = (n + grain - 1) / grain;
  if (nchunks == 1 || SerialScope::active() || get_num_threads() == 1 || in_parallel_region()) {
    f(int64_t(0), n);
    return;
  }
  struct Ctx {
    const F* f;
    int64_t n, grain;
  } ctx{&f, n, grain};
  parallel_for_impl(
      nchunks,
      [](void* c, int64_t chunk) {
        auto* x = static_cast<Ctx*>(c);
        int64_t b = chunk * x->grain;
        int64_t e = b + x->grain < x->n ? b + x->grain : x->n;
        (*x->f)(b, e);
      },
      &ctx);
}

// Elements per task for cheap elementwise work: below this, threads cost more than
// they save.
constexpr int64_t kElementwiseGrain = 32768;

}  // namespace cpu
}  // namespace anneal
