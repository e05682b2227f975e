#include "runtime/thread_pool.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace anneal {
namespace {
// More threads than this is a typo or an attack, not a machine: OpenMP would try to start
// them all at the next parallel loop and abort when the system refuses.
constexpr int kMaxThreads = 4096;

int initial_threads() {
  if (const char* env = std::getenv("ANNEAL_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= kMaxThreads) return int(n);
    std::fprintf(stderr, "anneal: ignoring ANNEAL_NUM_THREADS='%s' (expected a whole number from 1 to %d)\n", env,
                 kMaxThreads);
  }
  return std::min(omp_get_max_threads(), kMaxThreads);
}
std::atomic<int>& num_threads() {
  static std::atomic<int> n{initial_threads()};
  return n;
}
}  // namespace

void set_num_threads(int n) {
  ANNEAL_CHECK(n > 0 && n <= kMaxThreads, ValueError, "set_num_threads: expected 1 to ", kMaxThreads,
               " threads, got ", n);
  num_threads() = n;
  omp_set_num_threads(n);  // Eigen's GEMM follows OpenMP's setting
}
int get_num_threads() { return num_threads().load(); }

namespace cpu {

bool in_parallel_region() { return omp_in_parallel(); }

void parallel_for_impl(int64_t nchunks, void (*fn)(void*, int64_t), void* ctx) {
  // Exceptions may not leave an OpenMP region: keep the first and rethrow after.
  std::exception_ptr error;
  std::mutex mu;
  int threads = int(std::min<int64_t>(nchunks, get_num_threads()));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t c = 0; c < nchunks; ++c) {
    try {
      fn(ctx, c);
    } catch (...) {
      std::lock_guard<std::mutex> l(mu);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace cpu
}  // namespace anneal
