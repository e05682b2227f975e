// Gradients against central finite differences in float64, for every golden case with a
// differentiable output (broadcast and non-contiguous inputs included), and second
// derivatives for the ops whose backward is itself differentiable.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "golden_case.h"

using namespace anneal;
using namespace anneal::test;

namespace {

struct Prepared {
  TensorList inputs;
  std::vector<size_t> diff;  // indices of inputs that require grad
};

Prepared prepare(const GoldenCase& c) {
  Prepared p;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const auto& in = c.inputs[i];
    bool fl = is_floating(in.dtype);
    Tensor t = in.make(fl ? std::optional<DType>(DType::Float64) : std::nullopt);
    if (in.requires_grad) {
      t.set_requires_grad(true);
      p.diff.push_back(i);
    }
    p.inputs.push_back(t);
  }
  return p;
}

// s(x) = sum(f(x) * cot)
Tensor objective(const OpFn& f, const TensorList& xs, const Kw& kw, const Tensor& cot) {
  return sum(f(xs, kw) * cot);
}

// The input with element j moved by h (same layout as the original).
Tensor perturbed(const Tensor& x, int64_t j, double h) {
  Tensor c = x.detach().clone().contiguous();
  c.data_ptr<double>()[j] += h;
  if (!x.is_contiguous() && x.dim() >= 2) c = c.mT().contiguous().mT();
  return c;
}

class GradCheck : public ::testing::TestWithParam<GoldenCase> {};
class GradGradCheck : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GradCheck, FiniteDifferences) {
  const GoldenCase& c = GetParam();
  const OpFn& f = op_table().at(c.op);
  Prepared p = prepare(c);
  Tensor cot = c.cotangent->make(DType::Float64);
  TensorList wrt;
  for (size_t i : p.diff) wrt.push_back(p.inputs[i]);
  TensorList grads = autograd::grad({objective(f, p.inputs, c.kw, cot)}, wrt, {}, {}, false, true);
  const double h = 1e-6;
  for (size_t k = 0; k < p.diff.size(); ++k) {
    size_t i = p.diff[k];
    Tensor ana = grads[k].defined() ? grads[k].contiguous() : zeros_like(p.inputs[i]);
    const double* a = ana.data_ptr<double>();
    for (int64_t j = 0; j < p.inputs[i].numel(); ++j) {
      TensorList plus = p.inputs, minus = p.inputs;
      plus[i] = perturbed(p.inputs[i], j, h);
      minus[i] = perturbed(p.inputs[i], j, -h);
      NoGradGuard ng;
      double num = (objective(f, plus, c.kw, cot).item<double>() - objective(f, minus, c.kw, cot).item<double>()) / (2 * h);
      EXPECT_NEAR(a[j], num, 1e-5 + 1e-4 * std::fabs(num)) << "input " << i << ", element " << j;
    }
  }
}

// Ops whose backward formulas are checked once more by differentiating them.
const std::set<std::string> kSecondOrder = {
    "exp", "log", "sin", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus", "sqrt", "pow_scalar", "mul",
    "div", "pow", "matmul", "mm", "bmm", "softmax", "log_softmax", "cross_entropy", "sum", "mean", "var",
    "logsumexp", "conv2d", "layer_norm", "sdpa", "slice", "select", "index_select", "gather", "permute", "expand",
    "amax", "prod", "norm", "maximum", "atan2", "where", "avg_pool2d", "max_pool2d", "batch_norm_train"};

TEST_P(GradGradCheck, SecondOrder) {
  const GoldenCase& c = GetParam();
  const OpFn& f = op_table().at(c.op);
  Prepared p = prepare(c);
  Tensor cot = c.cotangent->make(DType::Float64);
  const size_t i = p.diff[0];
  Tensor v = rand(p.inputs[i].sizes(), DType::Float64) - 0.5;  // direction for the second derivative
  // q(x) = <d s / d x_i, v>
  auto q = [&](const TensorList& xs, bool create) {
    Tensor g = autograd::grad({objective(f, xs, c.kw, cot)}, {xs[i]}, {}, {}, create, true)[0];
    return g.defined() ? sum(g * v) : zeros({}, DType::Float64);
  };
  Tensor qv = q(p.inputs, true);
  if (!qv.requires_grad()) GTEST_SKIP() << "first derivative of " << c.op << " is constant in input " << i;
  Tensor ana = autograd::grad({qv}, {p.inputs[i]}, {}, {}, false, true)[0];
  if (!ana.defined()) ana = zeros_like(p.inputs[i]);
  ana = ana.contiguous();
  const double h = 1e-5;
  for (int64_t j = 0; j < p.inputs[i].numel(); ++j) {
    TensorList plus = p.inputs, minus = p.inputs;
    plus[i] = perturbed(p.inputs[i], j, h).set_requires_grad(true);
    minus[i] = perturbed(p.inputs[i], j, -h).set_requires_grad(true);
    double num = (q(plus, false).item<double>() - q(minus, false).item<double>()) / (2 * h);
    EXPECT_NEAR(ana.data_ptr<double>()[j], num, 1e-4 + 1e-3 * std::fabs(num)) << "element " << j;
  }
}

// Casts to a lower precision are lossy, so finite differences cannot check them.
std::vector<GoldenCase> differentiable_cases(bool second_order) {
  std::vector<GoldenCase> out;
  for (const auto& c : golden_cases())
    if (c.cotangent && c.op != "to_dtype" && (!second_order || kSecondOrder.count(c.op))) out.push_back(c);
  return out;
}

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Ops, GradCheck, ::testing::ValuesIn(differentiable_cases(false)), case_name);
INSTANTIATE_TEST_SUITE_P(Ops, GradGradCheck, ::testing::ValuesIn(differentiable_cases(true)), case_name);

}  // namespace
