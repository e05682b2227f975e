// im2col / col2im: convolution becomes one matrix product per image.
#include <algorithm>
#include "core/tensor_impl.h"
#include "kernels/cpu/cpu_backend.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {

// in [N,C,H,W] contiguous → cols [N, C*kh*kw, OH*OW] contiguous
void CpuBackend::im2col(const Tensor& in, const Tensor& cols, const Conv2dGeometry& g, double pad_value) {
  const int64_t N = in.size(0), C = in.size(1), H = in.size(2), W = in.size(3);
  const int64_t OH = g.out_h(H), OW = g.out_w(W);
  ANNEAL_DISPATCH_ALL(in.dtype(), "im2col", [&] {
    const scalar_t* x = in.data_ptr<scalar_t>();
    scalar_t* col = cols.data_ptr<scalar_t>();
    const scalar_t pad = scalar_t(compute_t<scalar_t>(pad_value));
    parallel_for(N * C, 1, [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        const scalar_t* img = x + nc * H * W;
        scalar_t* dst = col + nc * g.kh * g.kw * OH * OW;  // rows of channel c in image n
        for (int64_t ki = 0; ki < g.kh; ++ki)
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            scalar_t* row = dst + (ki * g.kw + kj) * OH * OW;
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t ih = oh * g.sh - g.ph + ki * g.dh;
              scalar_t* out_row = row + oh * OW;
              if (ih < 0 || ih >= H) {
                for (int64_t ow = 0; ow < OW; ++ow) out_row[ow] = pad;
                continue;
              }
              const scalar_t* in_row = img + ih * W;
              const int64_t off = kj * g.dw - g.pw;
              if (g.sw == 1) {
                // padding on the edges, a straight copy in between
                const int64_t lo = std::clamp<int64_t>(-off, 0, OW), hi = std::clamp<int64_t>(W - off, lo, OW);
                for (int64_t ow = 0; ow < lo; ++ow) out_row[ow] = pad;
                std::copy(in_row + lo + off, in_row + hi + off, out_row + lo);
                for (int64_t ow = hi; ow < OW; ++ow) out_row[ow] = pad;
              } else {
                for (int64_t ow = 0; ow < OW; ++ow) {
                  const int64_t iw = ow * g.sw + off;
                  out_row[ow] = (iw >= 0 && iw < W) ? in_row[iw] : pad;
                }
              }
            }
          }
      }
    });
  });
}

void CpuBackend::col2im(const Tensor& cols, const Tensor& out, const Conv2dGeometry& g) {
  const int64_t N = out.size(0), C = out.size(1), H = out.size(2), W = out.size(3);
  const int64_t OH = g.out_h(H), OW = g.out_w(W);
  ANNEAL_DISPATCH_NUMERIC(out.dtype(), "col2im", [&] {
    using A = compute_t<scalar_t>;
    scalar_t* x = out.data_ptr<scalar_t>();
    const scalar_t* col = cols.data_ptr<scalar_t>();
    parallel_for(N * C, 1, [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        scalar_t* img = x + nc * H * W;
        for (int64_t i = 0; i < H * W; ++i) img[i] = scalar_t(A(0));
        const scalar_t* src = col + nc * g.kh * g.kw * OH * OW;
        for (int64_t ki = 0; ki < g.kh; ++ki)
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const scalar_t* row = src + (ki * g.kw + kj) * OH * OW;
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t ih = oh * g.sh - g.ph + ki * g.dh;
              if (ih < 0 || ih >= H) continue;
              scalar_t* img_row = img + ih * W;
              const int64_t off = kj * g.dw - g.pw;
              if (g.sw == 1) {  // only the outputs whose input column is inside the image
                const int64_t lo = std::clamp<int64_t>(-off, 0, OW), hi = std::clamp<int64_t>(W - off, lo, OW);
                const scalar_t* r = row + oh * OW;
                for (int64_t ow = lo; ow < hi; ++ow) img_row[ow + off] = scalar_t(A(img_row[ow + off]) + A(r[ow]));
                continue;
              }
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t iw = ow * g.sw + off;
                if (iw >= 0 && iw < W) img_row[iw] = scalar_t(A(img_row[iw]) + A(row[oh * OW + ow]));
              }
            }
          }
      }
    });
  });
}

}  // namespace anneal::cpu

namespace anneal::cpu {
namespace {

constexpr int64_t kImagesPerChunk = 4;  // fixed, so batch sums do not depend on threads

// A [rows, cols] row-major matrix view of raw memory, for the batched GEMM kernel.
Tensor matrix(const Tensor& base, int64_t offset_elems, int64_t rows, int64_t cols, int64_t row_stride,
              int64_t col_stride) {
  return make_view(base, {1, rows, cols}, {rows * cols, row_stride, col_stride}, base.storage_offset() + offset_elems);
}

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out,
                                const Conv2dGeometry& g, int64_t groups) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), O = w.size(0);
  const int64_t OH = out.size(2), OW = out.size(3), L = OH * OW;
  const int64_t Cg = C / groups, Og = O / groups, Kg = Cg * g.kh * g.kw;
  parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    Tensor cols = make_empty({1, C * g.kh * g.kw, L}, x.dtype(), cpu_allocator());
    for (int64_t n = n0; n < n1; ++n) {
      Tensor img = make_view(x, {1, C, H, W}, {C * H * W, H * W, W, 1}, x.storage_offset() + n * C * H * W);
      im2col(img, cols, g, 0.0);
      for (int64_t gi = 0; gi < groups; ++gi) {
        Tensor wg = matrix(w, gi * Og * Kg, Og, Kg, Kg, 1);
        Tensor cg = matrix(cols, gi * Kg * L, Kg, L, L, 1);
        Tensor og = matrix(out, (n * O + gi * Og) * L, Og, L, L, 1);
        bmm(wg, cg, og);
      }
      if (bias.defined()) {
        Tensor rows = make_view(out, {1, O, L}, {O * L, L, 1}, out.storage_offset() + n * O * L);
        Tensor b = make_view(bias, {1, O, L}, {0, 1, 0}, bias.storage_offset());
        binary(BinaryOp::Add, rows, b, rows);
      }
    }
  });
}

void CpuBackend::conv2d_backward(const Tensor& gout, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                                 const Tensor& grad_w, const Conv2dGeometry& g, int64_t groups) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), O = w.size(0);
  const int64_t OH = gout.size(2), OW = gout.size(3), L = OH * OW;
  const int64_t Cg = C / groups, Og = O / groups, Kg = Cg * g.kh * g.kw;
  const int64_t nchunks = (N + kImagesPerChunk - 1) / kImagesPerChunk;
  // per-chunk partial weight gradients, summed in chunk order afterwards
  Tensor partial = grad_w.defined() ? make_empty({nchunks, O * Kg}, x.dtype(), cpu_allocator()) : Tensor();
  if (partial.defined()) fill(partial, 0);
  // With few weights per filter (Kg, e.g. 9 for a 1-channel 3x3 conv) dW_n = g_n·cols_nᵀ
  // is a product with a very narrow result (N = Kg): the kernel's 32-wide tiles would
  // be mostly padding. Its transpose cols_n·g_nᵀ has Og columns instead.
  const bool transposed_dw = Kg < 32 && Og > Kg;
  parallel_for(nchunks, 1, [&](int64_t c0, int64_t c1) {
    Tensor cols = make_empty({1, C * g.kh * g.kw, L}, x.dtype(), cpu_allocator());
    Tensor tmp = make_empty(transposed_dw ? Shape{1, Kg, Og} : Shape{1, Og, Kg}, x.dtype(), cpu_allocator());
    Tensor tmp_as_dw = transposed_dw ? make_view(tmp, {1, Og, Kg}, {Og * Kg, 1, Og}, tmp.storage_offset()) : tmp;
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      for (int64_t n = chunk * kImagesPerChunk; n < std::min(N, (chunk + 1) * kImagesPerChunk); ++n) {
        if (partial.defined()) {
          Tensor img = make_view(x, {1, C, H, W}, {C * H * W, H * W, W, 1}, x.storage_offset() + n * C * H * W);
          im2col(img, cols, g, 0.0);
          for (int64_t gi = 0; gi < groups; ++gi) {
            // dW_g += g_n [Og, L] · cols_gᵀ [L, Kg]   (or its transpose, see above)
            if (transposed_dw) {
              Tensor cm = matrix(cols, gi * Kg * L, Kg, L, L, 1);
              Tensor gt = matrix(gout, (n * O + gi * Og) * L, L, Og, 1, L);
              bmm(cm, gt, tmp);
            } else {
              Tensor go = matrix(gout, (n * O + gi * Og) * L, Og, L, L, 1);
              Tensor ct = matrix(cols, gi * Kg * L, L, Kg, 1, L);
              bmm(go, ct, tmp);
            }
            Tensor acc = make_view(partial, {1, Og, Kg}, {Og * Kg, Kg, 1}, chunk * O * Kg + gi * Og * Kg);
            binary(BinaryOp::Add, acc, tmp_as_dw, acc);
          }
        }
        if (grad_x.defined()) {
          for (int64_t gi = 0; gi < groups; ++gi) {
            // cols_g = W_gᵀ [Kg, Og] · g_n [Og, L]
            Tensor wt = matrix(w, gi * Og * Kg, Kg, Og, 1, Kg);
            Tensor go = matrix(gout, (n * O + gi * Og) * L, Og, L, L, 1);
            Tensor cg = matrix(cols, gi * Kg * L, Kg, L, L, 1);
            bmm(wt, go, cg);
          }
          Tensor gimg = make_view(grad_x, {1, C, H, W}, {C * H * W, H * W, W, 1}, grad_x.storage_offset() + n * C * H * W);
          col2im(cols, gimg, g);
        }
      }
    }
  });
  if (partial.defined()) {
    Tensor p3 = make_view(partial, {1, nchunks, O * Kg}, {nchunks * O * Kg, O * Kg, 1}, 0);
    Tensor out2 = make_view(grad_w, {1, O * Kg}, {O * Kg, 1}, grad_w.storage_offset());
    reduce(ReduceOp::Sum, p3, out2);
  }
}

}  // namespace anneal::cpu
