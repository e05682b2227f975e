// Short training runs on the GPU whose losses track the same runs on the CPU: the same
// initial weights (built on the CPU, moved with Module::to) and the same batches.
#include <gtest/gtest.h>

#include <cmath>

#include "anneal.h"
#include "cuda_test.h"

using namespace anneal;

namespace {

using CudaTraining = anneal::test::CudaTest;

// Losses of `steps` optimizer steps of `model_name` on `device`, from weights seeded identically.
template <typename MakeBatch>
std::vector<double> run(const std::string& model_name, const nn::ModelConfig& cfg, Device device, int steps,
                        bool adam, MakeBatch batch) {
  manual_seed(7);
  auto model = nn::make_model(model_name, cfg);
  model->to(device);
  std::unique_ptr<optim::Optimizer> opt;
  if (adam) opt = std::make_unique<optim::AdamW>(model->parameters(), 1e-3);
  else opt = std::make_unique<optim::SGD>(model->parameters(), 0.05, 0.9);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    auto [x, y] = batch(s);
    Tensor out = (*model)(x.to(device));
    Tensor loss = cross_entropy(out.reshape({-1, out.size(-1)}), y.to(device).reshape({-1}));
    opt->zero_grad();
    loss.backward();
    opt->step();
    losses.push_back(loss.item<double>());
  }
  return losses;
}

void expect_tracks(const std::vector<double>& gpu, const std::vector<double>& cpu, double rtol) {
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t i = 0; i < gpu.size(); ++i)
    EXPECT_NEAR(gpu[i], cpu[i], rtol * std::fabs(cpu[i])) << "step " << i;
  EXPECT_LT(gpu.back(), gpu.front());
}

TEST_F(CudaTraining, MlpLossTracksCpu) {
  auto batch = [](int s) {
    Generator g(100 + uint64_t(s));
    Tensor x = randn({64, 784}, TensorOptions(), &g);
    Tensor y = randint(0, 10, {64}, DType::Int64, &g);
    return std::pair{x, y};
  };
  nn::ModelConfig cfg{{"sizes", "784,128,10"}};
  expect_tracks(run("mlp", cfg, Device("cuda:0"), 20, false, batch), run("mlp", cfg, kCPU, 20, false, batch), 1e-3);
}

TEST_F(CudaTraining, CnnLossTracksCpu) {
  auto batch = [](int s) {
    Generator g(200 + uint64_t(s));
    return std::pair{randn({16, 1, 28, 28}, TensorOptions(), &g), randint(0, 10, {16}, DType::Int64, &g)};
  };
  expect_tracks(run("cnn", {}, Device("cuda:0"), 10, true, batch), run("cnn", {}, kCPU, 10, true, batch), 2e-3);
}

TEST_F(CudaTraining, GptLossTracksCpu) {
  auto batch = [](int s) {
    Generator g(300 + uint64_t(s));
    Tensor t = randint(0, 64, {4, 33}, DType::Int64, &g);
    return std::pair{t.slice(1, 0, 32), t.slice(1, 1, 33)};
  };
  nn::ModelConfig cfg{{"vocab_size", "64"}, {"context", "32"}, {"n_layer", "2"}, {"n_head", "2"}, {"d_model", "32"}};
  expect_tracks(run("gpt", cfg, Device("cuda:0"), 10, true, batch), run("gpt", cfg, kCPU, 10, true, batch), 2e-3);
}

}  // namespace
