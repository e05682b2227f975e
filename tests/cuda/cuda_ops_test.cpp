// Every op of the golden table (tests/ops/golden.py) run on the GPU: forward values and
// gradients against the PyTorch reference values, with the same inputs (transposed views
// kept transposed on the device). Fresh device memory is poisoned with NaN bytes
// (ANNEAL_CUDA_POISON=1, set here) so an element a kernel forgets to write shows up.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "../ops/golden_case.h"

using namespace anneal;
using namespace anneal::test;

namespace {

const Device kGpu("cuda:0");

// Looser than the CPU's: reductions and cuBLAS sum in other orders.
Tol tolerance(DType d) {
  switch (d) {
    case DType::Float64: return {1e-6, 1e-8};
    case DType::Float32: return {1e-4, 1e-5};
    case DType::Float16: return {2e-2, 2e-3};
    case DType::BFloat16: return {4e-2, 2e-2};
    default: return {0, 0};
  }
}

::testing::AssertionResult on_gpu_and_matches(const char* what, const Tensor& got, const TensorData& want) {
  if (got.device() != kGpu) return ::testing::AssertionFailure() << what << ": on " << got.device().str();
  return matches(what, got, want, tolerance);
}

Tensor on_gpu(const TensorData& d) {
  TensorData c = d;
  c.noncontig = false;
  Tensor t = c.make().to(kGpu);
  if (d.noncontig && t.dim() >= 2) t = t.mT().contiguous().mT();  // the same transposed layout
  return t.detach();
}

class CudaOps : public ::testing::TestWithParam<GoldenCase> {
 protected:
  static void SetUpTestSuite() { setenv("ANNEAL_CUDA_POISON", "1", 0); }
  void SetUp() override {
    if (!cuda_is_available()) GTEST_SKIP() << "no CUDA device on this machine (cuda_device_count() == 0)";
  }
};

TEST_P(CudaOps, MatchesPyTorch) {
  const GoldenCase& c = GetParam();
  auto it = op_table().find(c.op);
  ASSERT_NE(it, op_table().end()) << "op '" << c.op << "' has no entry in tests/ops/op_table.cpp";
  TensorList inputs;
  for (const auto& in : c.inputs) {
    Tensor t = on_gpu(in);
    if (in.requires_grad) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  Tensor out = it->second(inputs, c.kw);
  EXPECT_TRUE(on_gpu_and_matches("output", out, c.output));
  if (!c.cotangent) return;
  ASSERT_TRUE(out.requires_grad()) << "output does not require grad";
  out.backward(on_gpu(*c.cotangent));
  for (const auto& [i, g] : c.grads) {
    ASSERT_TRUE(inputs[i].grad().defined()) << "input " << i << " received no gradient";
    EXPECT_TRUE(on_gpu_and_matches(("grad of input " + std::to_string(i)).c_str(), inputs[i].grad(), g));
  }
}

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Golden, CudaOps, ::testing::ValuesIn(golden_cases()), case_name);

}  // namespace
