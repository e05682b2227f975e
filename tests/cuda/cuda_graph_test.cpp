// CUDA graphs: capture and replay equal eager execution (a small computation and whole
// training steps with SGD and capturable Adam), and capture's misuses are clear errors.
#include <gtest/gtest.h>

#include "anneal.h"
#include "cuda_test.h"

using namespace anneal;

namespace {

using CudaGraphs = anneal::test::CudaTest;

TEST_F(CudaGraphs, ReplayRecomputesFromTheStaticInputs) {
  Tensor x = randn({64, 32}).to(gpu), w = randn({32, 16}).to(gpu);
  Tensor y;
  CudaGraph g;
  g.capture_begin();
  EXPECT_TRUE(cuda_is_capturing(0));
  y = relu(matmul(x, w)) + 1.0;
  g.capture_end();
  EXPECT_FALSE(cuda_is_capturing(0));
  EXPECT_TRUE(g.captured());
  for (int i = 0; i < 3; ++i) {
    Tensor fresh = randn({64, 32});
    x.copy_(fresh.to(gpu));
    g.replay();
    EXPECT_TRUE(allclose(y.cpu(), relu(matmul(fresh, w.cpu())) + 1.0, 1e-4, 1e-4)) << "replay " << i;
  }
}

// `steps` training steps of an MLP; from `capture_after` on, the step is one graph replay.
Tensor train_mlp(bool adam, int steps, int capture_after) {
  const Device gpu("cuda:0");
  manual_seed(11);
  auto model = nn::make_model("mlp", {{"sizes", "784,64,10"}});
  model->to(gpu);
  std::unique_ptr<optim::Optimizer> opt;
  if (adam) opt = std::make_unique<optim::Adam>(model->parameters(), 1e-3, 0.9, 0.999, 1e-8, 0.0, false, true);
  else opt = std::make_unique<optim::SGD>(model->parameters(), 0.05, 0.9);
  Tensor x = zeros({32, 784}, TensorOptions(DType::Float32, gpu));
  Tensor y = zeros({32}, TensorOptions(DType::Int64, gpu));
  auto step = [&] {
    opt->zero_grad();
    Tensor loss = cross_entropy((*model)(x), y);
    loss.backward();
    opt->step();
  };
  CudaGraph graph;
  for (int s = 0; s < steps; ++s) {
    Generator g(200 + uint64_t(s));
    x.copy_(randn({32, 784}, TensorOptions(), &g).to(gpu));
    y.copy_(randint(0, 10, {32}, DType::Int64, &g).to(gpu));
    if (s < capture_after) {
      step();
    } else {
      if (!graph.captured()) {
        graph.capture_begin();
        step();
        graph.capture_end();
      }
      graph.replay();
    }
  }
  std::vector<Tensor> flat;
  for (auto& p : model->parameters()) flat.push_back(p.detach().reshape({-1}).cpu());
  return cat(flat, 0);
}

TEST_F(CudaGraphs, SgdTrainingStepReplaysLikeEagerSteps) {
  const Tensor eager = train_mlp(false, 12, 1000), graphed = train_mlp(false, 12, 3);
  EXPECT_TRUE(allclose(graphed, eager, 1e-4, 1e-5));
}

TEST_F(CudaGraphs, CapturableAdamTrainingStepReplaysLikeEagerSteps) {
  const Tensor eager = train_mlp(true, 12, 1000), graphed = train_mlp(true, 12, 3);
  EXPECT_TRUE(allclose(graphed, eager, 1e-4, 1e-5));
}

TEST_F(CudaGraphs, MisusesAreClearErrorsAndTheDeviceStaysUsable) {
  Tensor x = randn({8}).to(gpu);
  {
    CudaGraph g;
    EXPECT_THROW(g.replay(), ValueError);       // nothing captured
    EXPECT_THROW(g.capture_end(), ValueError);  // no capture under way
    g.capture_begin();
    EXPECT_THROW(g.capture_begin(), ValueError);
    EXPECT_THROW(rand({4}, TensorOptions(DType::Float32, gpu)), NotImplementedError);  // would repeat
    g.capture_end();
  }
  {
    CudaGraph g;
    g.capture_begin();
    EXPECT_THROW((void)(x * 2.0).cpu(), Error);  // waits for the device: refused by CUDA
    try {
      g.capture_end();  // CUDA may have invalidated the capture: then this says so
    } catch (const DeviceError& e) {
      EXPECT_NE(std::string(e.what()).find("capture failed"), std::string::npos) << e.what();
    }
  }
  {
    // Adam without capturable keeps its step count on the host: refused inside capture.
    Tensor p = randn({4}).to(gpu).set_requires_grad();
    optim::Adam opt({p}, 1e-3);
    p.set_grad(ones({4}).to(gpu));
    opt.step();
    CudaGraph g;
    g.capture_begin();
    EXPECT_THROW(opt.step(), ValueError);
    g.capture_end();
  }
  {
    // a state-less optimizer cannot make its state inside a capture
    Tensor p = randn({4}).to(gpu).set_requires_grad();
    p.set_grad(ones({4}).to(gpu));
    optim::SGD sgd({p}, 0.1, 0.9);
    CudaGraph g;
    g.capture_begin();
    EXPECT_THROW(sgd.step(), ValueError);
    g.capture_end();
  }
  EXPECT_TRUE(allclose((x * 2.0).cpu(), x.cpu() * 2.0));  // still usable
}

TEST_F(CudaGraphs, PrivatePoolIsReturnedWhenTheGraphGoes) {
  Allocator* a = allocator_for(gpu);
  a->empty_cache();
  const int64_t before = a->stats().reserved_bytes;
  {
    Tensor x = randn({256, 256}).to(gpu);
    CudaGraph g;
    g.capture_begin();
    Tensor t = matmul(x, x);
    for (int i = 0; i < 4; ++i) t = t * 0.5 + 1.0;
    g.capture_end();
    g.replay();
  }
  a->empty_cache();
  EXPECT_EQ(a->stats().reserved_bytes, before);
}

}  // namespace
