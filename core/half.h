#pragma once
// 16-bit floating types stored as bits and computed in float32 on the CPU.
#include <cstdint>
#include <cstring>

namespace anneal {

namespace detail {
inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace detail

struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f) : bits(from_float(f)) {}  // NOLINT: implicit like a number
  operator float() const { return to_float(bits); }

  // IEEE binary16 conversions with round-to-nearest-even, NaN and Inf preserved.
  static uint16_t from_float(float f) {
    uint32_t x = detail::f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return uint16_t(sign | (absx > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow → inf
    if (absx < 0x38800000u) {                                   // subnormal or zero
      // shift the mantissa (with implicit 1) into half-subnormal range, rounding to even
      float a = detail::bits_f32(absx);
      // adding 0.5f aligns the 10 mantissa bits at the bottom; the FPU rounds to even
      uint32_t r = detail::f32_bits(a + 0.5f) - 0x3f000000u;
      return uint16_t(sign | r);
    }
    uint32_t mant_odd = (absx >> 13) & 1u;
    absx += 0xc8000fffu + mant_odd;  // rebias exponent (-112<<23) and round
    return uint16_t(sign | (absx >> 13));
  }
  static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return detail::bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
      if (mant == 0) return detail::bits_f32(sign);
      float v = float(mant) * (1.0f / 16777216.0f);  // mant * 2^-24
      return sign ? -v : v;
    }
    return detail::bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
  }
};

struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) : bits(from_float(f)) {}  // NOLINT
  operator float() const { return detail::bits_f32(uint32_t(bits) << 16); }
  static uint16_t from_float(float f) {
    uint32_t x = detail::f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // quiet NaN
    uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
    return uint16_t((x + rounding) >> 16);
  }
};

}  // namespace anneal
