// Each optimizer's 20-step trajectory against PyTorch's (tests/optim/optim_golden.py),
// plus parameter groups, state dicts and bad options.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "anneal.h"

using namespace anneal;

namespace {

struct OptimCase {
  std::string name;
  std::map<std::string, double> kw;
  std::vector<std::vector<double>> init, final_values;
};

std::vector<OptimCase> load() {
  std::vector<OptimCase> out;
  std::ifstream f(ANNEAL_OPTIM_GOLDEN_FILE);
  std::string line;
  OptimCase c;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "case") {
      c = OptimCase();
      in >> c.name;
      std::string kv;
      while (in >> kv) {
        auto eq = kv.find('=');
        std::string v = kv.substr(eq + 1);
        c.kw[kv.substr(0, eq)] = v == "True" ? 1.0 : v == "False" ? 0.0 : std::stod(v);
      }
    } else if (tag == "init" || tag == "final") {
      std::vector<double> vals;
      double x;
      while (in >> x) vals.push_back(x);
      (tag == "init" ? c.init : c.final_values).push_back(vals);
    } else if (tag == "end") {
      out.push_back(c);
    }
  }
  return out;
}

double kw(const OptimCase& c, const std::string& k, double def) {
  auto it = c.kw.find(k);
  return it == c.kw.end() ? def : it->second;
}

std::unique_ptr<optim::Optimizer> make(const OptimCase& c, TensorList ps) {
  if (c.name == "sgd")
    return std::make_unique<optim::SGD>(ps, kw(c, "lr", 0), kw(c, "momentum", 0), kw(c, "dampening", 0),
                                        kw(c, "weight_decay", 0), kw(c, "nesterov", 0) != 0, kw(c, "maximize", 0) != 0);
  if (c.name == "adam")
    return std::make_unique<optim::Adam>(ps, kw(c, "lr", 1e-3), kw(c, "beta1", 0.9), kw(c, "beta2", 0.999),
                                         kw(c, "eps", 1e-8), kw(c, "weight_decay", 0), kw(c, "amsgrad", 0) != 0);
  if (c.name == "adamw")
    return std::make_unique<optim::AdamW>(ps, kw(c, "lr", 1e-3), kw(c, "beta1", 0.9), kw(c, "beta2", 0.999),
                                          kw(c, "eps", 1e-8), kw(c, "weight_decay", 1e-2), kw(c, "amsgrad", 0) != 0);
  if (c.name == "rmsprop")
    return std::make_unique<optim::RMSprop>(ps, kw(c, "lr", 1e-2), kw(c, "alpha", 0.99), kw(c, "eps", 1e-8),
                                            kw(c, "weight_decay", 0), kw(c, "momentum", 0), kw(c, "centered", 0) != 0);
  if (c.name == "adagrad")
    return std::make_unique<optim::Adagrad>(ps, kw(c, "lr", 1e-2), kw(c, "lr_decay", 0), kw(c, "weight_decay", 0),
                                            kw(c, "initial_accumulator_value", 0), kw(c, "eps", 1e-10));
  throw std::runtime_error("unknown optimizer " + c.name);
}

void set_grads(TensorList& ps, int t) {
  NoGradGuard ng;
  for (auto& p : ps) p.set_grad(sin(p.detach() * double(t + 1)) + p.detach() * 0.1);
}

class OptimGolden : public ::testing::TestWithParam<OptimCase> {};

TEST_P(OptimGolden, TwentyStepsMatchPyTorch) {
  const OptimCase& c = GetParam();
  TensorList ps = {tensor(c.init[0], {3, 4}).set_requires_grad(), tensor(c.init[1], {5}).set_requires_grad()};
  auto opt = make(c, ps);
  for (int t = 0; t < 20; ++t) {
    set_grads(ps, t);
    opt->step();
  }
  for (size_t i = 0; i < ps.size(); ++i) {
    const double* got = ps[i].data_ptr<double>();
    for (size_t j = 0; j < c.final_values[i].size(); ++j)
      EXPECT_NEAR(got[j], c.final_values[i][j], 1e-9) << "param " << i << " element " << j;
  }
}

std::string case_name(const ::testing::TestParamInfo<OptimCase>& info) {
  return info.param.name + "_" + std::to_string(info.index);
}
INSTANTIATE_TEST_SUITE_P(PyTorch, OptimGolden, ::testing::ValuesIn(load()), case_name);

TEST(Optimizer, ParamGroupsHaveTheirOwnOptions) {
  Tensor a = ones({2}, DType::Float64).set_requires_grad(), b = ones({2}, DType::Float64).set_requires_grad();
  optim::SGD opt({{{a}, {{"lr", 0.5}}}, {{b}, {}}}, {{"lr", 0.1}});
  a.set_grad(ones({2}, DType::Float64));
  b.set_grad(ones({2}, DType::Float64));
  opt.step();
  EXPECT_DOUBLE_EQ(a[0].item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(b[0].item<double>(), 0.9);
  opt.param_groups()[1].options["lr"] = 0.2;  // what schedulers do
  opt.step();
  EXPECT_DOUBLE_EQ(b[0].item<double>(), 0.7);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizer, StateDictRoundTripContinuesTheSameTrajectory) {
  auto run = [](bool reload) {
    manual_seed(3);
    TensorList ps = {randn({4}, DType::Float64).set_requires_grad()};
    optim::Adam opt(ps, 0.05);
    for (int t = 0; t < 5; ++t) {
      set_grads(ps, t);
      opt.step();
    }
    if (reload) {
      optim::OptimizerState s = opt.state_dict();
      TensorList ps2 = {ps[0].detach().clone().set_requires_grad()};
      optim::Adam fresh(ps2, 0.05);
      fresh.load_state_dict(s);
      for (int t = 5; t < 10; ++t) {
        set_grads(ps2, t);
        fresh.step();
      }
      return ps2[0];
    }
    for (int t = 5; t < 10; ++t) {
      set_grads(ps, t);
      opt.step();
    }
    return ps[0];
  };
  EXPECT_TRUE(equal(run(false), run(true)));
}

// capturable keeps the step count on the parameter's device and computes the bias
// corrections with tensor ops (for CUDA graphs); the trajectory must be the same.
TEST(Optimizer, CapturableAdamFollowsTheSameTrajectory) {
  for (bool decoupled : {false, true}) {
    for (bool amsgrad : {false, true}) {
      auto run = [&](bool capturable) {
        manual_seed(5);
        TensorList ps = {randn({3, 4}, DType::Float32).set_requires_grad(), randn({5}, DType::Float32).set_requires_grad()};
        std::unique_ptr<optim::Adam> opt;
        if (decoupled) opt = std::make_unique<optim::AdamW>(ps, 0.05, 0.9, 0.99, 1e-8, 0.1, amsgrad, capturable);
        else opt = std::make_unique<optim::Adam>(ps, 0.05, 0.8, 0.99, 1e-8, 0.01, amsgrad, capturable);
        for (int t = 0; t < 12; ++t) {
          set_grads(ps, t);
          opt->step();
        }
        return cat({ps[0].detach().reshape({-1}), ps[1].detach()}, 0);
      };
      const Tensor plain = run(false), capturable = run(true);
      EXPECT_TRUE(allclose(capturable, plain, 1e-5, 1e-6)) << "decoupled " << decoupled << " amsgrad " << amsgrad;
    }
  }
}

TEST(Optimizer, BadOptionsAreErrors) {
  Tensor p = ones({2}).set_requires_grad();
  EXPECT_THROW(optim::SGD({p}, -0.1), ValueError);
  EXPECT_THROW(optim::SGD({p}, 0.1, 0.0, 0.0, 0.0, /*nesterov=*/true), ValueError);
  EXPECT_THROW(optim::Adam({p}, 0.1, 1.5), ValueError);
  EXPECT_THROW(optim::SGD({p, p}, 0.1), ValueError);
  EXPECT_THROW(optim::SGD({ones({2}, DType::Int64)}, 0.1), TypeError);
  EXPECT_THROW(optim::SGD({p * 2}, 0.1), ValueError);  // not a leaf
  EXPECT_THROW(optim::SGD({{{p}, {{"momentun", 0.9}}}}, {{"lr", 0.1}}), ValueError);  // a typo is caught
}

}  // namespace
