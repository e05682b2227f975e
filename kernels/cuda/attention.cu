// Fused scaled-dot-product attention forward (flash attention): softmax(q·kᵀ·scale)·v
// for bf16/fp16 q, k, v [B, H, L|S, E] with E = 64 or 128, causal or not, without ever
// writing the L×S scores to memory. The running row maximum and sum are kept per query
// row (online softmax), scores and the output accumulate in float32, the products run on
// tensor cores (WMMA 16×16×16). It also writes each row's log-sum-exp for the backward,
// which recomputes the probabilities (ops/attention.cpp).
//
// One block: 64 query rows, 4 warps of 16 rows each; it walks the key/value sequence in
// tiles of 64 staged in shared memory. Per warp: S = Q·Kᵀ (16×64, fp32) → online softmax
// by two threads per row → P (16×64, low type) → O = O·α + P·V (16×E, fp32 in shared).
// ANNEAL_FLASH_ATTENTION=0 turns it off (the composite path runs instead).
#include <mma.h>

#include <cmath>
#include <cstdlib>

#include "kernels/cuda/cuda_common.cuh"
#include "runtime/env.h"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

using namespace nvcuda;

constexpr int kRows = 64;   // query rows per block
constexpr int kCols = 64;   // keys per tile
constexpr int kWarps = 4;   // 16 query rows each
constexpr int kPad = 8;     // 16-bit elements of row padding (bank conflicts; keeps 32-byte alignment)
constexpr int kSPad = 4;    // float padding

template <typename T>
struct FlashParams {
  const T* q;
  const T* k;
  const T* v;
  T* out;        // [B, H, L, E] contiguous
  float* lse;    // [B, H, L]
  int64_t q_b, q_h, q_l, k_b, k_h, k_s, v_b, v_h, v_s;  // element strides
  int H, L, S;
  bool causal;
  float scale_log2;  // scale · log2(e): the softmax runs in base 2
};

template <int E>
struct Layout {  // shared memory, in bytes from the start (all 32-byte aligned)
  static constexpr int LD = E + kPad;         // Q, K, V tile row (elements)
  static constexpr int LDS = kCols + kSPad;   // S row (floats)
  static constexpr int LDP = kCols + kPad;    // P row (elements)
  static constexpr int LDO = E + kSPad;       // O row (floats)
  static constexpr int q = 0;
  static constexpr int k = q + kRows * LD * 2;
  static constexpr int v = k + kCols * LD * 2;
  static constexpr int s = v + kCols * LD * 2;
  static constexpr int p = s + kWarps * 16 * LDS * 4;
  static constexpr int o = p + kWarps * 16 * LDP * 2;
  static constexpr int bytes = o + kWarps * 16 * LDO * 4;
};

// rows [row0, row0 + 64) of a [n, E] matrix with row stride `stride` into dst (row pitch
// LD), 16 bytes per thread per step; rows past n are zeros.
template <typename T, int E>
__device__ void load_tile(T* dst, const T* src, int64_t stride, int row0, int n) {
  constexpr int kChunks = E / 8;
  for (int i = threadIdx.x; i < 64 * kChunks; i += blockDim.x) {
    const int row = i / kChunks, ch = i % kChunks;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (row0 + row < n) val = *reinterpret_cast<const uint4*>(src + int64_t(row0 + row) * stride + ch * 8);
    *reinterpret_cast<uint4*>(dst + row * Layout<E>::LD + ch * 8) = val;
  }
}

template <typename T, int E>
__global__ void __launch_bounds__(kWarps * 32) flash_forward_kernel(FlashParams<T> p) {
  using L = Layout<E>;
  extern __shared__ __align__(128) char smem[];
  T* Qs = reinterpret_cast<T*>(smem + L::q);
  T* Ks = reinterpret_cast<T*>(smem + L::k);
  T* Vs = reinterpret_cast<T*>(smem + L::v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* Sw = reinterpret_cast<float*>(smem + L::s) + warp * 16 * L::LDS;
  T* Pw = reinterpret_cast<T*>(smem + L::p) + warp * 16 * L::LDP;
  float* Ow = reinterpret_cast<float*>(smem + L::o) + warp * 16 * L::LDO;

  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int q0 = blockIdx.x * kRows;
  const T* qbase = p.q + b * p.q_b + h * p.q_h;
  const T* kbase = p.k + b * p.k_b + h * p.k_h;
  const T* vbase = p.v + b * p.v_b + h * p.v_h;

  load_tile<T, E>(Qs, qbase, p.q_l, q0, p.L);
  // this thread's query row (two threads per row) and half of the columns
  const int r = lane / 2, half = lane % 2;
  const int qi = q0 + warp * 16 + r;
  for (int c = 0; c < E / 2; ++c) Ow[r * L::LDO + half * (E / 2) + c] = 0.f;
  float m_i = -INFINITY, l_i = 0.f;

  int tiles = (p.S + kCols - 1) / kCols;
  if (p.causal) {  // keys after the block's last query row never count
    const int last_q = min(q0 + kRows, p.L) - 1;
    tiles = min(tiles, last_q / kCols + 1);
  }
  for (int j = 0; j < tiles; ++j) {
    const int k0 = j * kCols;
    __syncthreads();  // every warp is done with the previous K, V tiles
    load_tile<T, E>(Ks, kbase, p.k_s, k0, p.S);
    load_tile<T, E>(Vs, vbase, p.v_s, k0, p.S);
    __syncthreads();

    // S = Q_w · Kᵀ: 16 × 64, four 16×16 blocks
#pragma unroll
    for (int nb = 0; nb < kCols / 16; ++nb) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < E / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bt;  // (d, key) = K[key][d]
        wmma::load_matrix_sync(a, Qs + warp * 16 * L::LD + kk * 16, L::LD);
        wmma::load_matrix_sync(bt, Ks + nb * 16 * L::LD + kk * 16, L::LD);
        wmma::mma_sync(acc, a, bt, acc);
      }
      wmma::store_matrix_sync(Sw + nb * 16, acc, L::LDS, wmma::mem_row_major);
    }
    __syncwarp();

    // online softmax of row r over this tile (columns half*32 .. +31)
    float* srow = Sw + r * L::LDS;
    float mx = -INFINITY;
#pragma unroll 8
    for (int c = 0; c < kCols / 2; ++c) {
      const int col = half * (kCols / 2) + c, kj = k0 + col;
      const bool valid = kj < p.S && (!p.causal || kj <= qi);
      const float s = valid ? srow[col] * p.scale_log2 : -INFINITY;
      srow[col] = s;
      mx = fmaxf(mx, s);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m_i, mx);
    const bool none = m_new == -INFINITY;  // nothing valid yet in this row
    const float alpha = none ? 1.f : exp2f(m_i - m_new);
    float rs = 0.f;
#pragma unroll 8
    for (int c = 0; c < kCols / 2; ++c) {
      const int col = half * (kCols / 2) + c;
      const float e = none ? 0.f : exp2f(srow[col] - m_new);
      rs += e;
      Pw[r * L::LDP + col] = store_c<T>(e);
    }
    rs += __shfl_xor_sync(0xffffffffu, rs, 1);
    l_i = l_i * alpha + rs;
    m_i = m_new;
    for (int c = 0; c < E / 2; ++c) Ow[r * L::LDO + half * (E / 2) + c] *= alpha;
    __syncwarp();

    // O_w += P_w · V: 16 × E
#pragma unroll
    for (int db = 0; db < E / 16; ++db) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, Ow + db * 16, L::LDO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kCols / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bv;  // (key, d) = V[key][d]
        wmma::load_matrix_sync(a, Pw + kk * 16, L::LDP);
        wmma::load_matrix_sync(bv, Vs + kk * 16 * L::LD + db * 16, L::LD);
        wmma::mma_sync(acc, a, bv, acc);
      }
      wmma::store_matrix_sync(Ow + db * 16, acc, L::LDO, wmma::mem_row_major);
    }
    __syncwarp();
  }

  if (qi >= p.L) return;
  const float inv_l = l_i > 0.f ? 1.f / l_i : 0.f;
  T* orow = p.out + (int64_t(bh) * p.L + qi) * E + half * (E / 2);
  for (int c = 0; c < E / 2; ++c) orow[c] = store_c<T>(Ow[r * L::LDO + half * (E / 2) + c] * inv_l);
  if (half == 0) p.lse[int64_t(bh) * p.L + qi] = l_i > 0.f ? m_i * 0.6931471805599453f + logf(l_i) : -INFINITY;
}

bool flash_enabled() {
  static const bool on = env_switch("ANNEAL_FLASH_ATTENTION", true);
  return on;
}

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()->data()) % 16 == 0; }

template <typename T, int E>
void launch(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, bool causal,
            double scale) {
  FlashParams<T> p;
  p.q = ptr<T>(q), p.k = ptr<T>(k), p.v = ptr<T>(v), p.out = ptr<T>(out), p.lse = ptr<float>(lse);
  p.q_b = q.stride(0), p.q_h = q.stride(1), p.q_l = q.stride(2);
  p.k_b = k.stride(0), p.k_h = k.stride(1), p.k_s = k.stride(2);
  p.v_b = v.stride(0), p.v_h = v.stride(1), p.v_s = v.stride(2);
  p.H = int(q.size(1)), p.L = int(q.size(2)), p.S = int(k.size(2));
  p.causal = causal;
  p.scale_log2 = float(scale * 1.4426950408889634);
  constexpr int bytes = Layout<E>::bytes;
  // more than the default 48 KB of shared memory: opted into once per device
  static bool configured[64] = {};
  int device = 0;
  ANNEAL_CUDA_CHECK(cudaGetDevice(&device), "flash attention");
  if (device < 64 && !configured[device]) {
    ANNEAL_CUDA_CHECK(cudaFuncSetAttribute(flash_forward_kernel<T, E>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                      "flash attention (shared memory)");
    configured[device] = true;
  }
  const dim3 grid(unsigned((p.L + kRows - 1) / kRows), unsigned(q.size(0) * q.size(1)));
  flash_forward_kernel<T, E><<<grid, kWarps * 32, bytes, current_stream()>>>(p);
  check_launch("scaled_dot_product_attention (flash)");
}

}  // namespace

bool CudaBackend::attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                             bool causal, double scale) {
  DeviceGuard device_guard(device_);
  if (!flash_enabled()) return false;
  const DType dt = q.dtype();
  if ((dt != DType::BFloat16 && dt != DType::Float16) || k.dtype() != dt || v.dtype() != dt) return false;
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return false;
  const int64_t E = q.size(3);
  if ((E != 64 && E != 128) || k.size(3) != E || v.size(3) != E) return false;
  if (q.size(2) == 0 || k.size(2) == 0 || q.size(2) > INT32_MAX || k.size(2) > INT32_MAX) return false;
  if (q.size(0) * q.size(1) > 65535) return false;  // grid.y
  for (const Tensor* t : {&q, &k, &v}) {
    if (t->stride(3) != 1 || !aligned16(*t)) return false;
    for (int d = 0; d < 3; ++d)
      if (t->stride(d) % 8 != 0) return false;  // 16-byte rows for the tile loads
  }
  const bool bf16 = dt == DType::BFloat16;
  if (E == 64) {
    if (bf16) launch<__nv_bfloat16, 64>(q, k, v, out, lse, causal, scale);
    else launch<__half, 64>(q, k, v, out, lse, causal, scale);
  } else {
    if (bf16) launch<__nv_bfloat16, 128>(q, k, v, out, lse, causal, scale);
    else launch<__half, 128>(q, k, v, out, lse, causal, scale);
  }
  return true;
}

}  // namespace anneal::cuda
