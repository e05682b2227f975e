// The Philox stream: same seed, same numbers, whatever the thread count.
#include <gtest/gtest.h>

#include "anneal.h"
#include "core/philox.h"

using namespace anneal;

TEST(Random, PhiloxKnownAnswer) {
  // Random123's published known-answer vector for philox4x32_10 with zero counter and key.
  philox::U32x4 r = philox::philox4x32_10(0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
}

TEST(Random, SeedGivesSameNumbersAcrossThreadCounts) {
  int threads = get_num_threads();
  manual_seed(42);
  set_num_threads(1);
  Tensor a = randn({100000});
  Tensor u = rand({100000});
  manual_seed(42);
  set_num_threads(2);
  Tensor b = randn({100000});
  Tensor v = rand({100000});
  set_num_threads(threads);
  EXPECT_TRUE(equal(a, b));
  EXPECT_TRUE(equal(u, v));
  manual_seed(43);
  EXPECT_FALSE(equal(randn({16}), a.narrow(0, 0, 16)));
}

TEST(Random, StreamsAdvanceAndGeneratorsAreIndependent) {
  manual_seed(7);
  Tensor first = rand({8}), second = rand({8});
  EXPECT_FALSE(equal(first, second));
  Generator g(7);
  EXPECT_TRUE(equal(rand({8}, {}, &g), first));
  EXPECT_TRUE(equal(rand({8}, {}, &g), second));
}

TEST(Random, Distributions) {
  manual_seed(0);
  Tensor u = rand({200000}, DType::Float64);
  EXPECT_GE(amin(u).item<double>(), 0.0);
  EXPECT_LT(amax(u).item<double>(), 1.0);
  EXPECT_NEAR(mean(u).item<double>(), 0.5, 0.005);
  EXPECT_NEAR(var(u).item<double>(), 1.0 / 12, 0.002);
  Tensor n = randn({200000}, DType::Float64);
  EXPECT_NEAR(mean(n).item<double>(), 0.0, 0.01);
  EXPECT_NEAR(anneal::std(n).item<double>(), 1.0, 0.01);
  Tensor x = ones({100000});
  Tensor d = dropout(x, 0.25);
  double kept = mean(ne(d, 0.0).to(DType::Float64)).item<double>();
  EXPECT_NEAR(kept, 0.75, 0.01);
  EXPECT_NEAR(amax(d).item<double>(), 1.0 / 0.75, 1e-6);
  EXPECT_TRUE(dropout(x, 0.5, false).is_same(x));
  EXPECT_THROW(dropout(x, 1.5), ValueError);
}

TEST(Random, DropoutGradientIsTheScaledMask) {
  // With a fixed generator the mask is a function of the seed alone, so the gradient
  // can be checked exactly and by finite differences.
  Tensor x = randn({50}, DType::Float64).set_requires_grad();
  auto f = [&](const Tensor& in) {
    Generator g(123);
    return dropout(in, 0.3, true, &g);
  };
  Tensor y = f(x);
  Tensor w = randn({50}, DType::Float64);
  sum(y * w).backward();
  Tensor mask = ne(y.detach(), 0.0).to(DType::Float64);
  EXPECT_TRUE(allclose(x.grad(), w * mask / 0.7, 1e-12, 1e-12));
  const double h = 1e-6;
  for (int64_t j = 0; j < 50; j += 7) {
    Tensor xp = x.detach().clone(), xm = x.detach().clone();
    xp.data_ptr<double>()[j] += h;
    xm.data_ptr<double>()[j] -= h;
    double num = (sum(f(xp) * w).item<double>() - sum(f(xm) * w).item<double>()) / (2 * h);
    EXPECT_NEAR(x.grad().data_ptr<double>()[j], num, 1e-6);
  }
}
