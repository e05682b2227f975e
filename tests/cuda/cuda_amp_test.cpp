// Mixed precision on the GPU: autocast's type rules on CUDA tensors (bf16/fp16 products
// with real half-precision cuBLAS calls, float32 softmax and losses, float32 master
// gradients close to the float32 run), the gradient scaler skipping a step with an inf
// gradient, and float16 training with the scaler learning.
#include <gtest/gtest.h>

#include <cmath>

#include "anneal.h"
#include "cuda_test.h"
#include "../optim/amp_training.h"

using namespace anneal;

namespace {

using CudaAmp = anneal::test::CudaTest;

TEST_F(CudaAmp, AutocastTypeRulesAndGradientsOnCuda) {
  for (DType low : {DType::BFloat16, DType::Float16}) {
    manual_seed(1);
    Tensor x = randn({16, 64}).to(gpu), w = randn({32, 64}).to(gpu).set_requires_grad(), b = randn({32}).to(gpu);
    Tensor target = randint(0, 32, {16}, DType::Int64).to(gpu);
    Tensor g_low;
    {
      AutocastGuard ac(DeviceType::CUDA, low);
      Tensor y = linear(x, w, b);
      EXPECT_EQ(y.dtype(), low);
      EXPECT_EQ(matmul(x, x.t()).dtype(), low);
      EXPECT_EQ(softmax(y, 1).dtype(), DType::Float32);
      Tensor loss = cross_entropy(y, target);
      EXPECT_EQ(loss.dtype(), DType::Float32);
      loss.backward();
      g_low = w.grad().clone();
      EXPECT_EQ(g_low.dtype(), DType::Float32);
    }
    w.set_grad(Tensor());
    cross_entropy(linear(x, w, b), target).backward();
    EXPECT_TRUE(allclose(g_low.cpu(), w.grad().cpu(), 5e-2, 5e-3)) << dtype_name(low);
  }
}

TEST_F(CudaAmp, ScalerSkipsTheStepWithAnInfGradient) {
  Tensor p = ones({3}).to(gpu).set_requires_grad();
  optim::SGD opt({p}, 0.5);
  optim::GradScaler scaler({.init_scale = 1024.0});
  scaler.scale((p * tensor({1.0, INFINITY, 1.0}).to(gpu)).sum()).backward();
  const Tensor before = p.detach().cpu();
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_TRUE(equal(p.detach().cpu(), before));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 512.0);
  opt.zero_grad();
  scaler.scale((p * tensor({1.0, 2.0, 3.0}).to(gpu)).sum()).backward();
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_TRUE(allclose(p.detach().cpu(), tensor({0.5, 0.0, -0.5})));
}

TEST_F(CudaAmp, Float16TrainingWithTheScalerLearns) { test::expect_float16_training_with_the_scaler_learns(gpu); }

}  // namespace
