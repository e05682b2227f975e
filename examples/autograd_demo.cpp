// A small complete program: fit a two-layer network to a noisy sine with autograd and
// plain gradient descent, printing the loss as it falls.
#include <cmath>
#include <cstdio>

#include "anneal.h"

using namespace anneal;

int main() {
  manual_seed(0);
  // data: y = sin(3x) + noise, x in [-1, 1]
  const int64_t n = 256, hidden = 32;
  Tensor x = linspace(-1, 1, n).reshape({n, 1});
  Tensor y = sin(x * 3.0) + randn({n, 1}) * 0.05;

  // parameters, initialised like torch.nn.Linear (uniform in ±1/sqrt(fan_in))
  Tensor w1 = (rand({hidden, 1}) * 2 - 1).set_requires_grad();
  Tensor b1 = (rand({hidden}) * 2 - 1).set_requires_grad();
  const double bound2 = 1.0 / std::sqrt(double(hidden));
  Tensor w2 = ((rand({1, hidden}) * 2 - 1) * bound2).set_requires_grad();
  Tensor b2 = ((rand({1}) * 2 - 1) * bound2).set_requires_grad();
  std::vector<Tensor> params = {w1, b1, w2, b2};

  const double lr = 0.1;
  double first = 0, last = 0;
  for (int step = 0; step <= 2000; ++step) {
    Tensor pred = linear(tanh(linear(x, w1, b1)), w2, b2);
    Tensor loss = mse_loss(pred, y);
    loss.backward();
    {
      NoGradGuard no_grad;
      for (auto& p : params) {
        p.sub_(p.grad() * lr);
        p.mutable_grad().zero_();
      }
    }
    double l = loss.item<double>();
    if (step == 0) first = l;
    last = l;
    if (step % 250 == 0) std::printf("step %4d  loss %.5f\n", step, l);
  }
  std::printf("loss fell from %.4f to %.4f\n", first, last);
  return last < first / 10 ? 0 : 1;
}
