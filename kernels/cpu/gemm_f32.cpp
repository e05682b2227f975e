// Single-precision matrix product in the BLIS manner: B is packed into NR-wide slivers
// and A into MR-tall slivers per cache block, and a register-blocked micro-kernel
// computes MR x NR tiles with FMAs. The kernels are compiled for AVX-512 and AVX2 with
// target attributes and picked at run time, so a portable build still runs at full
// speed on the machine it lands on.
#include "kernels/cpu/gemm_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <cstring>
#include <optional>
#include <vector>

#include "runtime/thread_pool.h"

namespace anneal::cpu {
namespace {

constexpr int64_t kKC = 384;  // depth of a packed block: an A sliver + a B sliver stay in L1

constexpr int kMrAvx512 = 14;  // 28 accumulators + 2 B vectors + 1 broadcast = 31 of 32 registers

using Kernel = void (*)(int64_t k, const float* a, const float* b, float* c, int64_t ldc, bool accumulate);
struct Isa {
  int64_t mr, nr;
  Kernel kernel;
  // edge[h]: the first h rows of a full-width tile, written straight to C (null: compute
  // a whole tile into scratch and copy the valid part)
  Kernel edge[16];
};

// ---- micro-kernels: C[MR x NR] (+)= Apack[k x MR] . Bpack[k x NR] ----

// MR rows of C from an A sliver packed STRIDE wide (STRIDE > MR: an edge sliver).
template <int MR, int STRIDE = MR>
__attribute__((target("avx512f"))) void kernel_avx512(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                                                       bool accumulate) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  // C's tile is written at the end; fetch it now so its misses overlap the FMAs.
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += STRIDE;
    b += 32;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc0[i] = _mm512_add_ps(acc0[i], _mm512_loadu_ps(ci));
      acc1[i] = _mm512_add_ps(acc1[i], _mm512_loadu_ps(ci + 16));
    }
    _mm512_storeu_ps(ci, acc0[i]);
    _mm512_storeu_ps(ci + 16, acc1[i]);
  }
}

__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                                                      bool accumulate) {
  constexpr int MR = 6;
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += MR;
    b += 16;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (accumulate) {
      acc0[i] = _mm256_add_ps(acc0[i], _mm256_loadu_ps(ci));
      acc1[i] = _mm256_add_ps(acc1[i], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, acc0[i]);
    _mm256_storeu_ps(ci + 8, acc1[i]);
  }
}

template <int... H>
constexpr std::array<Kernel, 16> avx512_edges(std::integer_sequence<int, H...>) {
  return {nullptr, kernel_avx512<H + 1, kMrAvx512>...};
}

const Isa* detect() {
  static const Isa avx512 = [] {
    Isa isa{kMrAvx512, 32, kernel_avx512<kMrAvx512>, {}};
    constexpr auto edges = avx512_edges(std::make_integer_sequence<int, kMrAvx512 - 1>{});
    for (int h = 0; h < 16; ++h) isa.edge[h] = edges[size_t(h)];
    return isa;
  }();
  static const Isa avx2{6, 16, kernel_avx2, {}};
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return &avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &avx2;
  return nullptr;
}

// (GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as uninitialised.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// 16 rows of 16 floats (row j at src + j * ld) stored transposed: dst + p * dst_ld holds
// element p of every row. Four unpack/shuffle stages in registers.
__attribute__((target("avx512f"))) void transpose16x16(const float* src, int64_t ld, float* dst, int64_t dst_ld) {
  __m512 r[16], t[16];
  for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(src + j * ld);
  for (int j = 0; j < 16; j += 2) {  // per 128-bit lane: pairs of rows interleaved
    t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);
    t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]);
  }
  for (int j = 0; j < 16; j += 4) {  // lane k of r[j + c]: rows j..j+3 of column 4k + c
    const __m512d a0 = _mm512_castps_pd(t[j]), a1 = _mm512_castps_pd(t[j + 1]);
    const __m512d a2 = _mm512_castps_pd(t[j + 2]), a3 = _mm512_castps_pd(t[j + 3]);
    r[j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
    r[j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
    r[j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
    r[j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
  }
  for (int c = 0; c < 4; ++c) {  // t[c]: columns c, 8+c; t[4+c]: columns 4+c, 12+c (rows 0-7, 8-15 below)
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 8; ++c) {  // whole columns c and 8 + c
    _mm512_storeu_ps(dst + c * dst_ld, _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88));
    _mm512_storeu_ps(dst + (8 + c) * dst_ld, _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd));
  }
}

#pragma GCC diagnostic pop

// Bpack: for each NR-wide sliver of columns [j0, j0+NR), kc rows of NR floats (zero padded).
void pack_b(const float* b, int64_t rsb, int64_t csb, int64_t kc, int64_t nc, int64_t nr, float* out, int64_t s0,
            int64_t s1) {
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t j0 = s * nr, w = std::min(nr, nc - j0);
    float* dst = out + s * kc * nr;
    int64_t p = 0;
    if (rsb == 1 && nr == 32 && w == 32) {  // B transposed (x . W^T): 16x16 register transposes
      for (; p + 16 <= kc; p += 16, dst += 16 * nr)
        for (int64_t jb = 0; jb < 32; jb += 16) transpose16x16(b + (j0 + jb) * csb + p, csb, dst + jb, nr);
    }
    for (; p < kc; ++p, dst += nr) {
      const float* src = b + p * rsb + j0 * csb;
      if (csb == 1) {
        std::memcpy(dst, src, size_t(w) * sizeof(float));
      } else {
        for (int64_t j = 0; j < w; ++j) dst[j] = src[j * csb];
      }
      for (int64_t j = w; j < nr; ++j) dst[j] = 0.f;
    }
  }
}

// Apack: for each MR-tall sliver of rows, kc columns of MR floats (zero padded).
void pack_a(const float* a, int64_t rsa, int64_t csa, int64_t mc, int64_t kc, int64_t mr, float* out) {
  for (int64_t i0 = 0; i0 < mc; i0 += mr) {
    const int64_t h = std::min(mr, mc - i0);
    float* dst = out + i0 * kc;
    if (csa == 1 && h == mr) {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = 0; i < mr; ++i) dst[p * mr + i] = a[(i0 + i) * rsa + p];
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t i = 0; i < h; ++i) dst[p * mr + i] = a[(i0 + i) * rsa + p * csa];
        for (int64_t i = h; i < mr; ++i) dst[p * mr + i] = 0.f;
      }
    }
  }
}

}  // namespace

bool sgemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t rsb,
           int64_t csb, float* c, int64_t ldc) {
  static const Isa* isa = detect();
  if (!isa) return false;
  if (M == 0 || N == 0) return true;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(c + i * ldc, 0, size_t(N) * sizeof(float));
    return true;
  }
  // Products of a few thousand multiply-adds finish before a thread team would wake.
  std::optional<SerialScope> serial;
  if (M * N * K < (int64_t(1) << 16)) serial.emplace();
  const int64_t MR = isa->mr, NR = isa->nr;
  const int64_t MC = MR * 12;  // an A block of MC x KC stays in L2
  const int64_t nslivers = (N + NR - 1) / NR;
  // 64-byte aligned scratch for the packed B panel (all of N) and one A block per thread
  thread_local std::vector<float> bpack_storage;
  const size_t bsize = size_t(nslivers * NR * kKC) + 16;
  if (bpack_storage.size() < bsize) bpack_storage.resize(bsize);
  float* bpack = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(bpack_storage.data()) + 63) & ~uintptr_t(63));

  for (int64_t pc = 0; pc < K; pc += kKC) {
    const int64_t kc = std::min(kKC, K - pc);
    const bool accumulate = pc > 0;
    parallel_for(nslivers, std::max<int64_t>(1, nslivers / (2 * get_num_threads())), [&](int64_t s0, int64_t s1) {
      pack_b(b + pc * rsb, rsb, csb, kc, N, NR, bpack, s0, s1);
    });
    // Each thread takes an equal share of the rows (whole MR slivers), or of the column
    // slivers when there are too few rows to share.
    const int64_t T = std::max(1, get_num_threads());
    const int64_t row_slivers = (M + MR - 1) / MR;
    const bool split_rows = row_slivers >= 2 * T || nslivers < 2 * T;
    parallel_for(T, 1, [&](int64_t t0, int64_t t1) {
      thread_local std::vector<float> apack_storage;
      const size_t asize = size_t(MC * kKC) + 16;
      if (apack_storage.size() < asize) apack_storage.resize(asize);
      float* apack = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(apack_storage.data()) + 63) & ~uintptr_t(63));
      alignas(64) float tile[16 * 32];  // MR <= 16
      for (int64_t t = t0; t < t1; ++t) {
        int64_t r0 = 0, r1 = M, s_begin = 0, s_end = nslivers;
        if (split_rows) {
          // equal row counts (a short sliver at each share's end) beat whole slivers:
          // 128 rows of 14-row slivers would split 70/58
          r0 = M * t / T;
          r1 = M * (t + 1) / T;
        } else {
          s_begin = nslivers * t / T;
          s_end = nslivers * (t + 1) / T;
        }
        for (int64_t i0 = r0; i0 < r1; i0 += MC) {
          const int64_t mc = std::min(MC, r1 - i0);
          pack_a(a + i0 * rsa + pc * csa, rsa, csa, mc, kc, MR, apack);
          for (int64_t s = s_begin; s < s_end; ++s) {
            const int64_t j0 = s * NR, w_cols = std::min(NR, N - j0);
            const float* bs = bpack + s * kc * NR;
            for (int64_t ii = 0; ii < mc; ii += MR) {
              const int64_t h = std::min(MR, mc - ii);
              float* cdst = c + (i0 + ii) * ldc + j0;
              if (h == MR && w_cols == NR) {
                isa->kernel(kc, apack + ii * kc, bs, cdst, ldc, accumulate);
              } else if (w_cols == NR && isa->edge[h]) {
                isa->edge[h](kc, apack + ii * kc, bs, cdst, ldc, accumulate);
              } else {  // edge tile: compute into a scratch tile, copy the valid part
                isa->kernel(kc, apack + ii * kc, bs, tile, NR, false);
                for (int64_t i = 0; i < h; ++i)
                  for (int64_t j = 0; j < w_cols; ++j)
                    cdst[i * ldc + j] = accumulate ? cdst[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
              }
            }
          }
        }
      }
    });
  }
  return true;
}

}  // namespace anneal::cpu
