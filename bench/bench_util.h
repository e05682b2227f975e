#pragma once
// Timing helpers for the benchmarks: the median of repeated runs, printed as JSON lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

// Median seconds per call of f over `reps` timed rounds of `inner` calls each.
template <typename F>
double median_seconds(F&& f, int reps = 7, int inner = 1) {
  f();  // warm up: caches, allocator, thread pool
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto s = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) f();
    auto e = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double>(e - s).count() / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

inline void emit(const std::string& json) { std::printf("%s\n", json.c_str()); std::fflush(stdout); }

}  // namespace bench
