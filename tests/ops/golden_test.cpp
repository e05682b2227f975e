// Every op's forward value and gradient against PyTorch (tests/ops/golden.py).
#include <gtest/gtest.h>

#include <cmath>

#include "golden_case.h"

using namespace anneal;
using namespace anneal::test;

namespace {

Tol tolerance(DType d) {
  switch (d) {
    case DType::Float64: return {1e-7, 1e-9};
    case DType::Float32: return {1e-5, 1e-6};
    case DType::Float16: return {1e-2, 1e-3};
    case DType::BFloat16: return {2e-2, 1e-2};
    default: return {0, 0};
  }
}

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, MatchesPyTorch) {
  const GoldenCase& c = GetParam();
  auto it = op_table().find(c.op);
  ASSERT_NE(it, op_table().end()) << "op '" << c.op << "' has no entry in tests/ops/op_table.cpp";
  TensorList inputs;
  for (const auto& in : c.inputs) {
    Tensor t = in.make();
    if (in.requires_grad) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  Tensor out = it->second(inputs, c.kw);
  EXPECT_TRUE(matches("output", out, c.output, tolerance));
  if (!c.cotangent) return;
  ASSERT_TRUE(out.requires_grad()) << "output does not require grad";
  out.backward(c.cotangent->make());
  for (const auto& [i, g] : c.grads) {
    ASSERT_TRUE(inputs[i].grad().defined()) << "input " << i << " received no gradient";
    EXPECT_TRUE(matches(("grad of input " + std::to_string(i)).c_str(), inputs[i].grad(), g, tolerance));
  }
}

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Ops, GoldenTest, ::testing::ValuesIn(golden_cases()), case_name);

}  // namespace
