#include "kernels/cpu/parallel.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "core/error.h"

namespace anneal {
namespace {
int initial_threads() {
  if (const char* env = std::getenv("ANNEAL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return omp_get_max_threads();
}
std::atomic<int>& num_threads() {
  static std::atomic<int> n{initial_threads()};
  return n;
}
}  // namespace

void set_num_threads(int n) {
  ANNEAL_CHECK(n > 0, ValueError, "set_num_threads: expected a positive number of threads, got ", n);
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
