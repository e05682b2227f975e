#pragma once
// A short float16 training run with the gradient scaler, on any device: the CPU test
// (tests/optim/mixed_precision_test.cpp) and the GPU one (tests/cuda/cuda_amp_test.cpp)
// run the same thing.
#include <gtest/gtest.h>

#include "anneal.h"

namespace anneal::test {

// Trains a small MLP under float16 autocast for 60 Adam steps on `device` and checks the
// master weights stay float32 and the loss falls below half its first value.
inline void expect_float16_training_with_the_scaler_learns(const Device& device) {
  manual_seed(3);
  Tensor x = randn({64, 10});
  Tensor y = argmax(matmul(x, randn({10, 4})), 1);
  x = x.to(device), y = y.to(device);
  auto net = nn::make_model("mlp", {{"sizes", "10,32,4"}});
  net->to(device);
  optim::Adam opt(net->parameters(), 1e-2);
  optim::GradScaler scaler;
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    Tensor loss;
    {
      AutocastGuard ac(device.type, DType::Float16);
      loss = cross_entropy((*net)(x), y);
    }
    opt.zero_grad();
    scaler.scale(loss).backward();
    scaler.step(opt);
    scaler.update();
    (step == 0 ? first : last) = loss.item<double>();
  }
  for (const Tensor& p : net->parameters()) EXPECT_EQ(p.dtype(), DType::Float32);  // master weights
  EXPECT_LT(last, 0.5 * first);
}

}  // namespace anneal::test
