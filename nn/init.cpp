#include "nn/init.h"

#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "ops/ops.h"

namespace anneal::nn::init {

std::pair<int64_t, int64_t> fans(const Tensor& t) {
  ANNEAL_CHECK(t.dim() >= 2, ValueError, "fan in and fan out can not be computed for tensor with fewer than 2 dimensions (",
               t.shape_str(), ")");
  int64_t receptive = 1;
  for (int64_t i = 2; i < t.dim(); ++i) receptive *= t.size(i);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "conv2d" || nl == "sigmoid") return 1.0;
  if (nl == "tanh") return 5.0 / 3;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nl == "selu") return 3.0 / 4;
  throw ValueError(str("calculate_gain: unsupported nonlinearity '", nl, "'"));
}

void uniform_(Tensor& t, double low, double high) {
  NoGradGuard ng;
  t.uniform_(low, high);
}
void normal_(Tensor& t, double mean, double std) {
  NoGradGuard ng;
  t.normal_(mean, std);
}
void constant_(Tensor& t, double v) {
  NoGradGuard ng;
  t.fill_(v);
}
void zeros_(Tensor& t) { constant_(t, 0); }
void ones_(Tensor& t) { constant_(t, 1); }

void xavier_uniform_(Tensor& t, double gain) {
  auto [fi, fo] = fans(t);
  double a = gain * std::sqrt(6.0 / double(fi + fo));
  uniform_(t, -a, a);
}
void xavier_normal_(Tensor& t, double gain) {
  auto [fi, fo] = fans(t);
  normal_(t, 0, gain * std::sqrt(2.0 / double(fi + fo)));
}
void kaiming_uniform_(Tensor& t, double a, FanMode mode, const std::string& nl) {
  auto [fi, fo] = fans(t);
  double fan = double(mode == FanMode::FanIn ? fi : fo);
  double bound = calculate_gain(nl, a) * std::sqrt(3.0 / fan);
  uniform_(t, -bound, bound);
}
void kaiming_normal_(Tensor& t, double a, FanMode mode, const std::string& nl) {
  auto [fi, fo] = fans(t);
  double fan = double(mode == FanMode::FanIn ? fi : fo);
  normal_(t, 0, calculate_gain(nl, a) / std::sqrt(fan));
}

}  // namespace anneal::nn::init
