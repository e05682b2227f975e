// Autocast type rules and the gradient scaler (on the CPU, whose 16-bit floats compute
// in float32; the same code paths serve CUDA).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "anneal.h"
#include "amp_training.h"

using namespace anneal;

namespace {

TEST(Autocast, LowPrecisionForProductsFloat32ForSoftmaxAndLosses) {
  manual_seed(1);
  Tensor x = randn({4, 8}), w = randn({3, 8}).set_requires_grad(true), b = randn({3});
  {
    AutocastGuard ac(DeviceType::CPU, DType::BFloat16);
    Tensor y = linear(x, w, b);
    EXPECT_EQ(y.dtype(), DType::BFloat16);
    EXPECT_TRUE(equal(y, linear(x.to(DType::BFloat16), w.detach().to(DType::BFloat16), b.to(DType::BFloat16))));
    EXPECT_EQ(matmul(x, x.t()).dtype(), DType::BFloat16);
    EXPECT_EQ(softmax(y, 1).dtype(), DType::Float32);
    EXPECT_EQ(layer_norm(y, {3}).dtype(), DType::Float32);
    Tensor loss = cross_entropy(y, tensor({0.0, 2.0, 1.0, 0.0}).to(DType::Int64));
    EXPECT_EQ(loss.dtype(), DType::Float32);
    loss.backward();
    // the float32 master weight gets a float32 gradient, close to the float32 one
    EXPECT_EQ(w.grad().dtype(), DType::Float32);
    {
      AutocastGuard off(DeviceType::CPU, DType::BFloat16, false);
      EXPECT_EQ(linear(x, w, b).dtype(), DType::Float32);  // disabled inside
    }
    EXPECT_EQ(linear(x, w, b).dtype(), DType::BFloat16);  // and restored
  }
  EXPECT_FALSE(autocast_state().enabled);
  Tensor g16 = w.grad().clone();
  w.set_grad(Tensor());
  cross_entropy(linear(x, w, b), tensor({0.0, 2.0, 1.0, 0.0}).to(DType::Int64)).backward();
  EXPECT_TRUE(allclose(g16, w.grad(), 5e-2, 5e-3)) << g16 << w.grad();
  EXPECT_EQ(linear(x, w, b).dtype(), DType::Float32);  // outside the scope
}

TEST(Autocast, OnlyTheGuardsDeviceTypeAndValidDtypes) {
  Tensor x = randn({2, 2});
  {
    AutocastGuard ac(DeviceType::CUDA, DType::Float16);
    EXPECT_EQ(matmul(x, x).dtype(), DType::Float32);  // CPU tensors are not the CUDA scope's
  }
  {
    AutocastGuard ac(DeviceType::CPU, DType::Float16);
    EXPECT_EQ(matmul(x, x).dtype(), DType::Float16);
    EXPECT_EQ(matmul(x.to(DType::Int64), x.to(DType::Int64)).dtype(), DType::Int64);  // integers untouched
  }
  EXPECT_THROW(AutocastGuard(DeviceType::CPU, DType::Float64), ValueError);
}

optim::SGD one_param_sgd(Tensor& p) {
  p = ones({3}).set_requires_grad(true);
  return optim::SGD({p}, 0.5);
}

TEST(GradScaler, ScalesUnscalesAndSkipsStepsWithInfOrNan) {
  Tensor p;
  optim::SGD opt = one_param_sgd(p);
  optim::GradScaler scaler({.init_scale = 1024.0, .growth_interval = 2});
  Tensor loss = (p * tensor({1.0, 2.0, 3.0})).sum();
  Tensor scaled = scaler.scale(loss);
  EXPECT_DOUBLE_EQ(scaled.item<double>(), 6.0 * 1024);
  scaled.backward();
  EXPECT_TRUE(equal(p.grad(), tensor({1024.0, 2048.0, 3072.0})));
  EXPECT_TRUE(scaler.step(opt));  // unscales (exactly: a power of two) and steps
  EXPECT_TRUE(allclose(p.detach(), tensor({0.5, 0.0, -0.5})));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 1024.0);

  opt.zero_grad();
  scaler.scale((p * tensor({1.0, INFINITY, 1.0})).sum()).backward();
  Tensor before = p.detach().clone();
  EXPECT_FALSE(scaler.step(opt));  // an inf gradient: no step
  EXPECT_TRUE(scaler.found_inf());
  EXPECT_TRUE(equal(p.detach(), before));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 512.0);  // backed off

  for (int i = 0; i < 2; ++i) {  // growth_interval clean steps double the scale
    opt.zero_grad();
    scaler.scale(p.sum()).backward();
    EXPECT_TRUE(scaler.step(opt));
    scaler.update();
  }
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 1024.0);
}

TEST(GradScaler, StateRoundTripsAndBadInputIsAnError) {
  optim::GradScaler a({.init_scale = 8.0, .growth_interval = 3});
  Tensor p;
  optim::SGD opt = one_param_sgd(p);
  a.scale(p.sum()).backward();
  a.step(opt);
  a.update();
  optim::GradScaler b;
  b.load_state_dict(a.state_dict());
  EXPECT_DOUBLE_EQ(b.get_scale(), 8.0);
  EXPECT_EQ(b.state_dict(), a.state_dict());
  EXPECT_THROW(b.load_state_dict({{"scale", 2.0}}), ValueError);
  EXPECT_THROW(optim::GradScaler({.init_scale = -1.0}), ValueError);
  EXPECT_THROW(optim::GradScaler({.backoff_factor = 1.5}), ValueError);
  opt.zero_grad();
  b.scale(p.sum()).backward();
  b.unscale_(opt);
  EXPECT_THROW(b.unscale_(opt), Error);  // twice in one step
  if (train::checkpoints_available()) {
    train::Checkpoint ck;
    ck.grad_scaler = a.state_dict();
    const std::string path = ::testing::TempDir() + "anneal_scaler.ckpt";
    train::save_checkpoint(path, ck);
    EXPECT_EQ(train::load_checkpoint(path).grad_scaler, a.state_dict());
    std::remove(path.c_str());
  }
}

TEST(MixedPrecision, Float16TrainingWithTheScalerLearns) { test::expect_float16_training_with_the_scaler_learns(kCPU); }

}  // namespace
