// im2col / col2im: convolution becomes one matrix product per image.
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"

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
                for (int64_t ow = 0; ow < OW; ++ow) {
                  const int64_t iw = ow + off;
                  out_row[ow] = (iw >= 0 && iw < W) ? in_row[iw] : pad;
                }
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
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t iw = ow * g.sw - g.pw + kj * g.dw;
                if (iw >= 0 && iw < W) img_row[iw] = scalar_t(A(img_row[iw]) + A(row[oh * OW + ow]));
              }
            }
          }
      }
    });
  });
}

}  // namespace anneal::cpu
