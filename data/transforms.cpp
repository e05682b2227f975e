#include "data/transforms.h"

#include "core/error.h"
#include "core/philox.h"
#include "core/tensor_impl.h"
#include "ops/ops.h"

namespace anneal::data::transforms {

namespace {
void check_images(const char* what, const Tensor& x) {
  ANNEAL_CHECK(x.defined() && x.dim() == 4, ValueError, what, ": expected images [B, C, H, W], got ",
               x.defined() ? shape_to_string(x.shape()) : std::string("an undefined tensor"));
}
// Draw `k` of example `i` in the stream of `seed`: uniform 32-bit words.
uint32_t draw(uint64_t seed, int64_t i, int k) { return philox::philox4x32_10(uint64_t(i), seed).v[k]; }
}  // namespace

Transform to_float(double scale) {
  return [scale](Batch b, uint64_t) {
    b.data = b.data.to(DType::Float32) * scale;
    return b;
  };
}

Transform normalize(std::vector<double> mean, std::vector<double> stdev) {
  ANNEAL_CHECK(!mean.empty() && mean.size() == stdev.size(), ValueError,
               "normalize: mean and std need the same, non-zero number of values");
  for (double s : stdev) ANNEAL_CHECK(s > 0, ValueError, "normalize: std must be positive, got ", s);
  return [mean, stdev](Batch b, uint64_t) {
    check_images("normalize", b.data);
    const int64_t C = b.data.size(1);
    ANNEAL_CHECK(mean.size() == 1 || int64_t(mean.size()) == C, ValueError, "normalize: ", mean.size(),
                 " means for images with ", C, " channels");
    std::vector<double> m(static_cast<size_t>(C)), inv(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      m[size_t(c)] = mean[mean.size() == 1 ? 0 : size_t(c)];
      inv[size_t(c)] = 1.0 / stdev[stdev.size() == 1 ? 0 : size_t(c)];
    }
    Tensor x = b.data.to(DType::Float32);
    Tensor mt = tensor(m, {1, C, 1, 1}).to(DType::Float32), it = tensor(inv, {1, C, 1, 1}).to(DType::Float32);
    b.data = (x - mt) * it;
    return b;
  };
}

Transform random_crop(int64_t size, int64_t padding) {
  ANNEAL_CHECK(size > 0 && padding >= 0, ValueError, "random_crop: size must be positive and padding non-negative");
  return [size, padding](Batch b, uint64_t seed) {
    check_images("random_crop", b.data);
    Tensor x = padding ? pad(b.data, {padding, padding, padding, padding}) : b.data;
    const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
    ANNEAL_CHECK(size <= H && size <= W, ValueError, "random_crop: crop ", size, " is larger than the padded image ",
                 H, "x", W);
    TensorList crops;
    for (int64_t i = 0; i < B; ++i) {
      const int64_t top = draw(seed, i, 0) % uint32_t(H - size + 1), left = draw(seed, i, 1) % uint32_t(W - size + 1);
      crops.push_back(x[i].slice(1, top, top + size).slice(2, left, left + size));
    }
    b.data = stack(crops);
    return b;
  };
}

Transform random_horizontal_flip(double p) {
  ANNEAL_CHECK(p >= 0 && p <= 1, ValueError, "random_horizontal_flip: p must be in [0, 1], got ", p);
  return [p](Batch b, uint64_t seed) {
    check_images("random_horizontal_flip", b.data);
    const int64_t B = b.data.size(0), W = b.data.size(3);
    Tensor reversed = arange(W - 1, -1, -1);
    TensorList out;
    for (int64_t i = 0; i < B; ++i) {
      const bool flip = philox::to_unit_float(draw(seed, i, 2)) < p;
      out.push_back(flip ? index_select(b.data[i], 2, reversed) : b.data[i]);
    }
    b.data = stack(out);
    return b;
  };
}

Transform compose(std::vector<Transform> ts) {
  return [ts = std::move(ts)](Batch b, uint64_t seed) {
    for (size_t k = 0; k < ts.size(); ++k) b = ts[k](std::move(b), seed * 0x9E3779B97F4A7C15ull + k);
    return b;
  };
}

}  // namespace anneal::data::transforms
