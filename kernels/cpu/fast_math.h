#pragma once
// Branch-free float32 exp and erf that compilers vectorise (std::expf / erff are scalar
// library calls). exp: Cody-Waite range reduction and a degree-6 polynomial, about 1 ulp
// on [-87, 88], 0 below, +inf above. erf: Abramowitz & Stegun 7.1.26, absolute error
// below 1.5e-7, the formula PyTorch's vectorised CPU erf uses.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace anneal::cpu {

// Written with selects only (no branches) so loops over it vectorise.
__attribute__((always_inline)) inline float fast_expf(float x) {
  const float hi = 88.3762626647949f, lo = -87.3365447504019f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  xc = x != x ? 0.0f : xc;
  // Round to nearest by adding and removing 1.5 * 2^23 (no SSE4.1 round instruction needed).
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;  // ln 2 in two parts (Cody-Waite)
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  float y = p * scale;
  y = x < lo ? 0.0f : y;
  y = x > hi ? __builtin_inff() : y;
  return x != x ? x : y;
}

__attribute__((always_inline)) inline float fast_erff(float x) {
  const float a = __builtin_fabsf(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float y = 1.0f - poly * t * fast_expf(-a * a);
  return __builtin_copysignf(y, x);
}

// exp for the kernels' compute type: the vectorisable one for float, the library's for double.
__attribute__((always_inline)) inline float exp_of(float x) { return fast_expf(x); }
inline double exp_of(double x) { return std::exp(x); }

}  // namespace anneal::cpu
