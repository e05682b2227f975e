// Max pooling, forward with argmax indices and backward by those indices.
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

// The whole plane through max_pool_row_2x2 when it is float32 without NaN; false otherwise.
template <typename T>
bool max_pool_plane_2x2(const T* plane, int64_t H, int64_t W, int64_t OH, int64_t OW, T* out, int64_t* idx) {
  if constexpr (std::is_same_v<T, float>) {
    if (has_nan(plane, H * W)) return false;
    for (int64_t oh = 0; oh < OH; ++oh)
      max_pool_row_2x2(plane + 2 * oh * W, plane + (2 * oh + 1) * W, OW, 2 * oh * W, W, out + oh * OW, idx + oh * OW);
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
    parallel_for(NC, std::max<int64_t>(1, 4096 / std::max<int64_t>(HW, 1)), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        scalar_t* plane = gi + p * HW;
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
