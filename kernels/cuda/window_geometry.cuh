#pragma once
// A window geometry (Conv2dGeometry plus the image sizes) passed by value into the
// im2col/col2im and pooling kernels.
#include "kernels/backend.h"

namespace anneal::cuda {

struct Geo {
  int64_t C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
};
inline Geo geo(int64_t C, int64_t H, int64_t W, const Conv2dGeometry& g) {
  return {C, H, W, g.out_h(H), g.out_w(W), g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
}

}  // namespace anneal::cuda
