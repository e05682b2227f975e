// The machine's float32 FMA peak: the yardstick of the GEMM goal (a GEMM cannot beat it).
// Each thread runs a loop of independent fused multiply-adds on registers only (16
// accumulators: enough to cover the FMA latency on two pipes), AVX-512 where the CPU has
// it, else AVX2. One JSON line per thread count (1 and ANNEAL_NUM_THREADS, default 2).
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr long kIters = 100'000'000;  // ~0.2 s per thread at 250 GFLOP/s: long enough to see through noise

// Written out per ISA (not templated over intrinsic wrappers) so the FMAs stay inline.
__attribute__((target("avx512f"))) double loop512() {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);  // keeps the loop alive
}

__attribute__((target("avx2,fma"))) double loop256() {
  __m256 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  alignas(32) float lanes[8];
  __m256 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm256_add_ps(sum, acc[i]);
  _mm256_store_ps(lanes, sum);
  return lanes[0];
}

}  // namespace

int main() {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int lanes = avx512 ? 16 : 8;
  const char* env = std::getenv("ANNEAL_NUM_THREADS");
  const int most = env && std::atoi(env) > 0 ? std::atoi(env) : 2;
  for (int threads : {1, most}) {
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
      std::vector<std::thread> team;
      std::vector<double> sink(static_cast<size_t>(threads));
      const auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < threads; ++t)
        team.emplace_back([&, t] { sink[size_t(t)] = avx512 ? loop512() : loop256(); });
      for (auto& th : team) th.join();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double gflops = 2.0 * lanes * 16.0 * double(kIters) * threads / s / 1e9;
      if (gflops > best) best = gflops;
      if (sink[0] == 12345.f) std::puts("");
    }
    char line[200];
    std::snprintf(line, sizeof line, "{\"bench\":\"fma_peak_f32\",\"impl\":\"%s\",\"threads\":%d,\"gflops\":%.1f}",
                  avx512 ? "avx512" : "avx2", threads, best);
    bench::emit(line);
    if (threads == most) break;
  }
  return 0;
}
