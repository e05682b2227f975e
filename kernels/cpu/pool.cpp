// Max pooling, forward with argmax indices and backward by those indices.
#include <immintrin.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "kernels/cpu/cpu_backend.h"
#include "runtime/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace anneal::cpu {
namespace {

// True when a plane holds a NaN (a vectorisable scan of data that is about to be read
// anyway, so the pooling loop itself needs no NaN bookkeeping).
template <typename T>
bool has_nan(const T* p, int64_t n) {
  using C = compute_t<T>;
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= int(C(p[i]) != C(p[i]));
  return bad != 0;
}

// The common case (no padding, no dilation, small square window, no NaN) with the window
// size known at compile time: no bounds logic per output.
template <int K, typename T>
void max_pool_plane_fixed(const T* plane, int64_t W, int64_t OH, int64_t OW, int64_t stride, T* out, int64_t* idx) {
  using C = compute_t<T>;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* rows = plane + oh * stride * W;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t c0 = ow * stride;
      int64_t bi = c0;
      C best = C(rows[c0]);
#pragma GCC unroll 4
      for (int ki = 0; ki < K; ++ki)
#pragma GCC unroll 4
        for (int kj = 0; kj < K; ++kj) {
          const int64_t pos = ki * W + c0 + kj;
          const C v = C(rows[pos]);
          const bool gt = v > best;
          bi = gt ? pos : bi;
          best = gt ? v : best;
        }
      out[oh * OW + ow] = T(best);
      idx[oh * OW + ow] = oh * stride * W + bi;
    }
  }
}

// 2x2 windows, stride 2, float32, no NaN in the plane: selects only, so the loop over a
// row of outputs vectorises (this file builds with -fno-trapping-math); the first of
// equal maxima wins, as in the general path.
ANNEAL_SIMD_CLONES void max_pool_row_2x2(const float* r0, const float* r1, int64_t OW, int64_t row_base, int64_t W, float* out,
                      int64_t* idx) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
    float m = a;
    int64_t i = 0;
    i = b > m ? 1 : i;
    m = b > m ? b : m;
    i = c > m ? W : i;
    m = c > m ? c : m;
    i = d > m ? W + 1 : i;
    m = d > m ? d : m;
    out[ow] = m;
    idx[ow] = row_base + 2 * ow + i;
  }
}

// The masks of a step of up to 16 outputs (n of them) over 2n input columns: `keep` for
// the outputs, `lo` and `hi` for the two 16-float halves of each input row.
struct PairMasks {
  __mmask16 keep, lo, hi;
  explicit PairMasks(int64_t n)
      : keep(__mmask16((1u << n) - 1)),
        lo(__mmask16(n >= 8 ? 0xffff : (1u << (2 * n)) - 1)),
        hi(__mmask16(n <= 8 ? 0 : (1u << (2 * (n - 8))) - 1)) {}
};

// The same row with AVX-512, 16 outputs per step: the even and odd columns of both input
// rows are split out with two-source permutes, the window's argmax is kept as its offset
// (0, 1, W, W + 1) in 32-bit lanes and widened to the int64 indices at the store. (The
// compiler's clone of the loop above uses gathers for the stride-2 reads: ~4x slower.)
// (GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as uninitialised.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void max_pool_row_2x2_avx512(const float* r0, const float* r1, int64_t OW,
                                                                 int64_t row_base, int64_t W, float* out, int64_t* idx) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1), w0 = _mm512_set1_epi32(int(W)), w1 = _mm512_set1_epi32(int(W + 1));
  for (int64_t ow = 0; ow < OW; ow += 16) {
    // a short row (28 columns: 14 outputs) or the row's end: masked loads and stores
    const PairMasks mk(std::min<int64_t>(16, OW - ow));
    const __mmask16 lo = mk.lo, hi = mk.hi, keep = mk.keep;
    const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
    const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
    const __m512 a = _mm512_permutex2var_ps(a0, even, a1), b = _mm512_permutex2var_ps(a0, odd, a1);
    const __m512 c = _mm512_permutex2var_ps(b0, even, b1), d = _mm512_permutex2var_ps(b0, odd, b1);
    __m512 m = a;
    __m512i off = _mm512_setzero_si512();
    __mmask16 k = _mm512_cmp_ps_mask(b, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps(k, m, b);
    off = _mm512_mask_mov_epi32(off, k, one);
    k = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps(k, m, c);
    off = _mm512_mask_mov_epi32(off, k, w0);
    k = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps(k, m, d);
    off = _mm512_mask_mov_epi32(off, k, w1);
    _mm512_mask_storeu_ps(out + ow, keep, m);
    off = _mm512_add_epi32(off, even);  // + 2 * lane
    const __m512i base = _mm512_set1_epi64(row_base + 2 * ow);
    _mm512_mask_storeu_epi64(idx + ow, __mmask8(keep), _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(off))));
    _mm512_mask_storeu_epi64(idx + ow + 8, __mmask8(keep >> 8),
                             _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(off, 1))));
  }
}
#pragma GCC diagnostic pop

// The backward of a plane pooled by disjoint 2x2 windows that tile it (H = 2 OH, W = 2 OW),
// float32, with AVX-512: each window's four gradients (its output's gradient at the
// argmax, zeros elsewhere) are written as they are, every element once, instead of zeroing
// the plane and scattering. False, with the plane partly written, when an index lies
// outside its 2x2 block (the indices came from another window shape): the caller then
// redoes the plane the general way.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) bool max_pool_backward_plane_2x2_avx512(const float* go, const int64_t* idx,
                                                                            int64_t OH, int64_t OW, float* gi) {
  const int64_t W = 2 * OW;
  const __m512i lane2 = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i first = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(8));
  const __m512i one = _mm512_set1_epi32(1), w0 = _mm512_set1_epi32(int(W)), w1 = _mm512_set1_epi32(int(W + 1));
  for (int64_t oh = 0; oh < OH; ++oh) {
    float* row0 = gi + 2 * oh * W;
    float* row1 = row0 + W;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      const PairMasks mk(std::min<int64_t>(16, OW - ow));
      const __mmask16 lo = mk.lo, hi = mk.hi, keep = mk.keep;
      const int64_t q = oh * OW + ow;
      const __m512i base = _mm512_set1_epi64(2 * oh * W + 2 * ow);
      const __m256i i0 = _mm512_cvtepi64_epi32(_mm512_sub_epi64(_mm512_maskz_loadu_epi64(__mmask8(keep), idx + q), base));
      const __m256i i1 =
          _mm512_cvtepi64_epi32(_mm512_sub_epi64(_mm512_maskz_loadu_epi64(__mmask8(keep >> 8), idx + q + 8), base));
      const __m512i off = _mm512_sub_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(i0), i1, 1), lane2);
      const __mmask16 ka = _mm512_cmpeq_epi32_mask(off, _mm512_setzero_si512());
      const __mmask16 kb = _mm512_cmpeq_epi32_mask(off, one);
      const __mmask16 kc = _mm512_cmpeq_epi32_mask(off, w0);
      const __mmask16 kd = _mm512_cmpeq_epi32_mask(off, w1);
      if (((ka | kb | kc | kd) & keep) != keep) return false;
      const __m512 g = _mm512_maskz_loadu_ps(keep, go + q);
      const __m512 a = _mm512_maskz_mov_ps(ka, g), b = _mm512_maskz_mov_ps(kb, g);
      const __m512 c = _mm512_maskz_mov_ps(kc, g), d = _mm512_maskz_mov_ps(kd, g);
      _mm512_mask_storeu_ps(row0 + 2 * ow, lo, _mm512_permutex2var_ps(a, first, b));
      _mm512_mask_storeu_ps(row0 + 2 * ow + 16, hi, _mm512_permutex2var_ps(a, second, b));
      _mm512_mask_storeu_ps(row1 + 2 * ow, lo, _mm512_permutex2var_ps(c, first, d));
      _mm512_mask_storeu_ps(row1 + 2 * ow + 16, hi, _mm512_permutex2var_ps(c, second, d));
    }
  }
  return true;
}
#pragma GCC diagnostic pop

// float32 planes only (the overload below); other dtypes take the general loop
template <typename T>
bool max_pool_backward_plane_2x2(const T*, const int64_t*, int64_t, int64_t, T*) {
  return false;
}
bool max_pool_backward_plane_2x2(const float* go, const int64_t* idx, int64_t OH, int64_t OW, float* gi) {
  return max_pool_backward_plane_2x2_avx512(go, idx, OH, OW, gi);
}

bool has_avx512() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return yes;
}

// The whole plane through max_pool_row_2x2 when it is float32 without NaN; false otherwise.
template <typename T>
bool max_pool_plane_2x2(const T* plane, int64_t H, int64_t W, int64_t OH, int64_t OW, T* out, int64_t* idx) {
  if constexpr (std::is_same_v<T, float>) {
    if (has_nan(plane, H * W)) return false;
    // (window offsets ride in 32-bit lanes: planes wider than that take the plain loop)
    const bool wide = has_avx512() && W < (int64_t(1) << 30);
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float *r0 = plane + 2 * oh * W, *r1 = r0 + W;
      if (wide) max_pool_row_2x2_avx512(r0, r1, OW, 2 * oh * W, W, out + oh * OW, idx + oh * OW);
      else max_pool_row_2x2(r0, r1, OW, 2 * oh * W, W, out + oh * OW, idx + oh * OW);
    }
    return true;
  }
  return false;
}

}  // namespace

void CpuBackend::max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const Conv2dGeometry& g) {
  const int64_t NC = in.size(0) * in.size(1), H = in.size(2), W = in.size(3);
  const int64_t OH = out.size(2), OW = out.size(3);
  ANNEAL_DISPATCH_NUMERIC(in.dtype(), "max_pool2d", [&] {
    using C = compute_t<scalar_t>;
    const scalar_t* x = in.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    int64_t* idx = indices.data_ptr<int64_t>();
    parallel_for(NC, std::max<int64_t>(1, 4096 / std::max<int64_t>(H * W, 1)), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const scalar_t* plane = x + p * H * W;
        scalar_t* op = o + p * OH * OW;
        int64_t* ip = idx + p * OH * OW;
        const bool simple = g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1 && g.kh == g.kw && g.sh == g.sw;
        if (simple && g.kh == 2 && g.sh == 2 && max_pool_plane_2x2(plane, H, W, OH, OW, op, ip)) continue;
        if (simple && (g.kh == 2 || g.kh == 3) && !has_nan(plane, H * W)) {
          if (g.kh == 2) max_pool_plane_fixed<2>(plane, W, OH, OW, g.sh, op, ip);
          else max_pool_plane_fixed<3>(plane, W, OH, OW, g.sh, op, ip);
          continue;
        }
        // first/last window offsets inside the image along one axis (divisions only at edges)
        auto range = [](int64_t start, int64_t k, int64_t d, int64_t size, int64_t& k0, int64_t& k1) {
          k0 = start < 0 ? (-start + d - 1) / d : 0;
          k1 = start + (k - 1) * d < size ? k : std::min(k, (size - start + d - 1) / d);
        };
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t h0 = oh * g.sh - g.ph;
          int64_t ki0, ki1;
          range(h0, g.kh, g.dh, H, ki0, ki1);
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t w0 = ow * g.sw - g.pw;
            int64_t kj0, kj1;
            range(w0, g.kw, g.dw, W, kj0, kj1);
            // branch-free argmax (random data would mispredict every comparison); a NaN
            // in the window, rare, is handled after
            C best = std::numeric_limits<C>::lowest();
            int64_t best_i = -1;
            int nan = 0;
            for (int64_t ki = ki0; ki < ki1; ++ki) {
              const int64_t row = (h0 + ki * g.dh) * W + w0;
              for (int64_t kj = kj0; kj < kj1; ++kj) {
                const int64_t pos = row + kj * g.dw;
                const C v = C(plane[pos]);
                // arithmetic selects: random data would mispredict a branch per element
                const int64_t take = -int64_t(v > best || best_i < 0);
                best_i += (pos - best_i) & take;
                best = v > best ? v : best;
                nan += int(v != v);
              }
            }
            if (best_i >= 0) best = C(plane[best_i]);
            if (nan) {  // NaN wins, at its first position, as in PyTorch
              for (int64_t ki = ki0; ki < ki1 && nan; ++ki)
                for (int64_t kj = kj0; kj < kj1; ++kj) {
                  const int64_t pos = (h0 + ki * g.dh) * W + w0 + kj * g.dw;
                  if (C(plane[pos]) != C(plane[pos])) {
                    best = C(plane[pos]);
                    best_i = pos;
                    nan = false;
                    break;
                  }
                }
            }
            op[oh * OW + ow] = scalar_t(best);
            ip[oh * OW + ow] = best_i;
          }
        }
      }
    });
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) {
  const int64_t NC = grad_in.size(0) * grad_in.size(1), HW = grad_in.size(2) * grad_in.size(3);
  const int64_t L = grad_out.size(2) * grad_out.size(3);
  ANNEAL_DISPATCH_NUMERIC(grad_in.dtype(), "max_pool2d_backward", [&] {
    using C = compute_t<scalar_t>;
    const scalar_t* go = grad_out.data_ptr<scalar_t>();
    const int64_t* idx = indices.data_ptr<int64_t>();
    scalar_t* gi = grad_in.data_ptr<scalar_t>();
    const int64_t H = grad_in.size(2), W = grad_in.size(3), OH = grad_out.size(2), OW = grad_out.size(3);
    // the plane is exactly tiled by 2x2 windows: try the dense writer
    const bool tiled_2x2 = std::is_same_v<scalar_t, float> && has_avx512() && H == 2 * OH && W == 2 * OW &&
                           W < (int64_t(1) << 30);
    parallel_for(NC, std::max<int64_t>(1, 4096 / std::max<int64_t>(HW, 1)), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        scalar_t* plane = gi + p * HW;
        if (tiled_2x2 && max_pool_backward_plane_2x2(go + p * L, idx + p * L, OH, OW, plane)) continue;
        for (int64_t i = 0; i < HW; ++i) plane[i] = scalar_t(C(0));
        for (int64_t q = 0; q < L; ++q) {
          const int64_t j = idx[p * L + q];
          if (j >= 0) plane[j] = scalar_t(C(plane[j]) + C(go[p * L + q]));
        }
      }
    });
  });
}

}  // namespace anneal::cpu
