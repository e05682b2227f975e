#pragma once
// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
// Counter-based: the numbers for element i depend only on (seed, counter), so any
// thread, and the CUDA backend, produce the same values for the same seed.
#include <cmath>
#include <cstdint>

#include "core/macros.h"

namespace anneal::philox {

struct U32x4 {
  uint32_t v[4];
};

ANNEAL_HOST_DEVICE inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

// counter = (c0..c3), key = (k0, k1)
ANNEAL_HOST_DEVICE inline U32x4 philox4x32_10(uint64_t counter, uint64_t key) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// 24 random bits → float in [0, 1); 53 bits from two words → double in [0, 1).
ANNEAL_HOST_DEVICE inline float to_unit_float(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
ANNEAL_HOST_DEVICE inline double to_unit_double(uint32_t a, uint32_t b) {
  uint64_t v = (uint64_t(a) << 21) ^ uint64_t(b >> 11);
  return double(v & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Element i of a stream: lane i%4 of block (offset + i/4).
ANNEAL_HOST_DEVICE inline float uniform_at(uint64_t seed, uint64_t offset, int64_t i) {
  U32x4 r = philox4x32_10(offset + uint64_t(i) / 4, seed);
  return to_unit_float(r.v[i % 4]);
}

// Standard normal for element i by Box-Muller on the block's lane pairs (0,1), (2,3).
ANNEAL_HOST_DEVICE inline float normal_at(uint64_t seed, uint64_t offset, int64_t i) {
  U32x4 r = philox4x32_10(offset + uint64_t(i) / 4, seed);
  int lane = int(i % 4), pair = lane & ~1;
  float u1 = (float(r.v[pair] >> 8) + 1.0f) * (1.0f / 16777217.0f);  // (0, 1]: log stays finite
  float u2 = to_unit_float(r.v[pair + 1]);
  float radius = std::sqrt(-2.0f * std::log(u1));
  float theta = 6.2831853071795864f * u2;
  return (lane & 1) ? radius * std::sin(theta) : radius * std::cos(theta);
}

}  // namespace anneal::philox
