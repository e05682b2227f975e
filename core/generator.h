#pragma once
#include <cstdint>
#include <memory>
#include <mutex>

namespace anneal {

// A seed and a position in its Philox stream. Each random op reserves a block of the
// stream (advance) and hands (seed, offset) to the kernel.
class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ull) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> l(mu_);
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    std::lock_guard<std::mutex> l(mu_);
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves `n` elements' worth of the stream; returns the offset (in 4-word blocks)
  // to start from.
  uint64_t advance(int64_t n) {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t start = offset_;
    offset_ += (uint64_t(n) + 3) / 4;
    return start;
  }

 private:
  std::mutex mu_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator (one for CPU and CUDA alike, so a seed gives the
// same numbers on both).
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace anneal
