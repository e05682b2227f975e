// Short training runs whose loss must fall: the layers, losses, autograd and optimizers
// working together.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "anneal.h"

using namespace anneal;

namespace {

TEST(Training, MlpLearnsTwoSpirals) {
  manual_seed(0);
  // two interleaved spirals: not linearly separable
  const int64_t n = 256;
  Tensor t = linspace(0.5, 3.0, n / 2);
  Tensor a = cat({stack({t * cos(t * 2.5), t * sin(t * 2.5)}, 1), stack({-t * cos(t * 2.5), -t * sin(t * 2.5)}, 1)});
  Tensor y = cat({zeros({n / 2}, DType::Int64), ones({n / 2}, DType::Int64)});
  auto net = std::make_shared<nn::Sequential>(nn::Sequential{std::make_shared<nn::Linear>(2, 64),
                                                             std::make_shared<nn::Tanh>(),
                                                             std::make_shared<nn::Linear>(64, 64),
                                                             std::make_shared<nn::Tanh>(),
                                                             std::make_shared<nn::Linear>(64, 2)});
  optim::Adam opt(net->parameters(), 0.02);
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    Tensor loss = cross_entropy((*net)(a), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_GT(first, 0.6);
  EXPECT_LT(last, 0.1);
  NoGradGuard ng;
  double acc = mean(eq(argmax((*net)(a), 1), y).to(DType::Float32)).item<double>();
  EXPECT_GT(acc, 0.97);
}

TEST(Training, CnnLossFallsOnFashionMnistSlice) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::ifstream(dir + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  manual_seed(0);
  Tensor x = data::read_idx(dir + "/t10k-images-idx3-ubyte.gz").narrow(0, 0, 512).to(DType::Float32) / 255.0;
  Tensor y = data::read_idx(dir + "/t10k-labels-idx1-ubyte.gz").narrow(0, 0, 512).to(DType::Int64);
  auto net = std::make_shared<nn::Sequential>(nn::Sequential{
      std::make_shared<nn::Conv2d>(1, 8, 3, nn::Conv2dArgs{.padding = 1}), nn::BatchNorm2d(8),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(8 * 14 * 14, 10)});
  optim::SGD opt(net->parameters(), 0.01, 0.9);
  auto ds = std::make_shared<data::TensorDataset>(x.unsqueeze(1), y);
  data::DataLoader loader(ds, {.batch_size = 64, .shuffle = true, .seed = 1});
  double first = 0, last = 0;
  for (int epoch = 0; epoch < 3; ++epoch) {
    loader.start_epoch(epoch);
    data::Batch b;
    double sum_loss = 0;
    int n = 0;
    while (loader.next(b)) {
      Tensor loss = cross_entropy((*net)(b.data), b.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      sum_loss += loss.item<double>();
      ++n;
    }
    if (epoch == 0) first = sum_loss / n;
    last = sum_loss / n;
  }
  EXPECT_LT(last, first * 0.6) << "first epoch " << first << ", last " << last;
  EXPECT_LT(last, 0.9);
}

}  // namespace
