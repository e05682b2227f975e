// Learning-rate schedules and gradient clipping against PyTorch
// (tests/optim/optim_golden.py), plus the hand-checked warm-up cosine.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "anneal.h"

using namespace anneal;

namespace {

struct Block {
  std::string tag, name;
  std::map<std::string, double> kw;
  std::map<std::string, std::vector<std::vector<double>>> rows;
  std::vector<double> head;  // numbers on the header line (clip)
};

std::vector<Block> load(const std::string& kind) {
  std::vector<Block> out;
  std::ifstream f(ANNEAL_OPTIM_GOLDEN_FILE);
  std::string line;
  Block b;
  bool in = false;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string tag;
    is >> tag;
    if (tag == kind) {
      b = Block{tag};
      in = true;
      std::string w;
      if (kind == "sched") {
        is >> b.name;
        while (is >> w) b.kw[w.substr(0, w.find('='))] = std::stod(w.substr(w.find('=') + 1));
      } else {
        while (is >> w) b.head.push_back(std::stod(w));
      }
    } else if (tag == "end") {
      if (in) out.push_back(b);
      in = false;
    } else if (in) {
      std::vector<double> v;
      std::string w;
      while (is >> w) v.push_back(std::stod(w));
      b.rows[tag].push_back(v);
    }
  }
  return out;
}

std::unique_ptr<optim::LRScheduler> make(const Block& b, optim::Optimizer& opt) {
  auto k = [&](const char* n) { return b.kw.at(n); };
  if (b.name == "step") return std::make_unique<optim::StepLR>(opt, int64_t(k("step_size")), k("gamma"));
  if (b.name == "multistep") return std::make_unique<optim::MultiStepLR>(opt, std::vector<int64_t>{3, 7, 20}, k("gamma"));
  if (b.name == "exponential") return std::make_unique<optim::ExponentialLR>(opt, k("gamma"));
  if (b.name == "cosine") return std::make_unique<optim::CosineAnnealingLR>(opt, int64_t(k("t_max")), k("eta_min"));
  if (b.name == "linear") return std::make_unique<optim::LinearLR>(opt, k("start"), k("end"), int64_t(k("total")));
  if (b.name == "onecycle")
    return std::make_unique<optim::OneCycleLR>(opt, k("max_lr"), int64_t(k("total")), k("pct"), 25, 1e4, false);
  if (b.name == "onecycle_momentum")
    return std::make_unique<optim::OneCycleLR>(opt, k("max_lr"), int64_t(k("total")), k("pct"));
  return nullptr;
}

TEST(Schedules, MatchPyTorch) {
  auto blocks = load("sched");
  ASSERT_EQ(blocks.size(), 8u);
  for (const auto& b : blocks) {
    Tensor p = zeros({1}).set_requires_grad();
    optim::SGD opt({p}, 0.1);
    const auto& want = b.rows.at("lrs")[0];
    if (b.name == "plateau") {
      optim::ReduceLROnPlateau sched(opt, optim::ReduceLROnPlateau::Mode::Min, b.kw.at("factor"),
                                     int64_t(b.kw.at("patience")), 1e-4, int64_t(b.kw.at("cooldown")), b.kw.at("min_lr"));
      const auto& metrics = b.rows.at("metrics")[0];
      for (size_t i = 0; i < metrics.size(); ++i) {
        sched.step(metrics[i]);
        EXPECT_NEAR(opt.param_groups()[0].get("lr"), want[i], 1e-12) << "plateau step " << i;
      }
      continue;
    }
    auto sched = make(b, opt);
    ASSERT_TRUE(sched) << b.name;
    const auto& moms = b.rows.at("moms")[0];
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(opt.param_groups()[0].get("lr"), want[i], 1e-12) << b.name << " step " << i;
      EXPECT_NEAR(opt.param_groups()[0].get("momentum"), moms[i], 1e-12) << b.name << " momentum, step " << i;
      opt.step();
      sched->step();
    }
  }
}

TEST(Schedules, WarmupCosineByHand) {
  Tensor p = zeros({1}).set_requires_grad();
  optim::SGD opt({p}, 1.0);
  optim::WarmupCosineLR sched(opt, 4, 12, 0.1);
  std::vector<double> lrs;
  for (int i = 0; i < 14; ++i) {
    lrs.push_back(opt.param_groups()[0].get("lr"));
    sched.step();
  }
  EXPECT_DOUBLE_EQ(lrs[0], 0.25);
  EXPECT_DOUBLE_EQ(lrs[3], 1.0);
  EXPECT_DOUBLE_EQ(lrs[4], 1.0);                                       // cosine starts at the top
  EXPECT_NEAR(lrs[8], 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.5)), 1e-12);  // half way
  EXPECT_NEAR(lrs[12], 0.1, 1e-12);
  EXPECT_NEAR(lrs[13], 0.1, 1e-12);                                    // stays at min_lr
  sched.set_last_step(4);                                              // resume
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].get("lr"), 1.0);
}

TEST(Clipping, GradNormMatchesPyTorch) {
  auto blocks = load("clip");
  ASSERT_EQ(blocks.size(), 4u);
  for (const auto& b : blocks) {
    const double norm_type = b.head[0], max_norm = b.head[1], total_want = b.head[2];
    TensorList ps = {zeros({3, 4}, DType::Float64).set_requires_grad(), zeros({5}, DType::Float64).set_requires_grad()};
    for (size_t i = 0; i < ps.size(); ++i) ps[i].set_grad(tensor(b.rows.at("grad")[i], ps[i].sizes(), DType::Float64));
    double total = optim::clip_grad_norm_(ps, max_norm, norm_type);
    EXPECT_NEAR(total, total_want, 1e-12);
    for (size_t i = 0; i < ps.size(); ++i) {
      const auto& want = b.rows.at("clipped")[i];
      for (size_t j = 0; j < want.size(); ++j) EXPECT_NEAR(ps[i].grad().data_ptr<double>()[j], want[j], 1e-12);
    }
  }
}

TEST(Clipping, NonFiniteNormAndValueClipping) {
  Tensor p = zeros({3}, DType::Float64).set_requires_grad();
  p.set_grad(tensor({1.0, INFINITY, 2.0}, DType::Float64));
  EXPECT_TRUE(std::isinf(optim::clip_grad_norm_({p}, 1.0)));  // reported, not an error by default
  p.set_grad(tensor({1.0, INFINITY, 2.0}, DType::Float64));
  EXPECT_THROW(optim::clip_grad_norm_({p}, 1.0, 2.0, true), ValueError);
  EXPECT_EQ(p.grad()[0].item<double>(), 1.0);  // left untouched
  p.set_grad(tensor({-3.0, 0.5, 2.0}, DType::Float64));
  optim::clip_grad_value_({p}, 1.0);
  EXPECT_TRUE(equal(p.grad(), tensor({-1.0, 0.5, 1.0}, DType::Float64)));
}

TEST(Schedules, BadArguments) {
  Tensor p = zeros({1}).set_requires_grad();
  optim::SGD opt({p}, 0.1);
  EXPECT_THROW(optim::StepLR(opt, 0), ValueError);
  EXPECT_THROW(optim::CosineAnnealingLR(opt, 0), ValueError);
  EXPECT_THROW(optim::MultiStepLR(opt, {5, 3}), ValueError);
  EXPECT_THROW(optim::OneCycleLR(opt, 1.0, 10, 1.5), ValueError);
  EXPECT_THROW(optim::WarmupCosineLR(opt, 10, 5), ValueError);
}

}  // namespace

namespace {
TEST(Schedules, OneCycleCyclesAdamBeta1AndRejectsOptimizersWithoutMomentum) {
  Tensor p = zeros({1}).set_requires_grad();
  optim::Adam adam({p}, 0.1);
  optim::OneCycleLR sched(adam, 1.0, 10, 0.5);
  EXPECT_DOUBLE_EQ(adam.param_groups()[0].get("beta1"), 0.95);  // starts at max_momentum
  for (int i = 0; i < 4; ++i) sched.step();                      // the top of the rate (step 4)
  EXPECT_NEAR(adam.param_groups()[0].get("beta1"), 0.85, 1e-12);
  EXPECT_NEAR(adam.param_groups()[0].get("lr"), 1.0, 1e-12);
  optim::Adagrad adagrad({p}, 0.1);
  EXPECT_THROW(optim::OneCycleLR(adagrad, 1.0, 10), ValueError);
  EXPECT_NO_THROW(optim::OneCycleLR(adagrad, 1.0, 10, 0.3, 25, 1e4, false));
}
}  // namespace
