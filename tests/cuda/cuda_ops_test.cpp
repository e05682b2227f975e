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

class CudaOps : public ::testing::TestWithParam<GoldenCase> {
 protected:
  static void SetUpTestSuite() { setenv("ANNEAL_CUDA_POISON", "1", 0); }
  void SetUp() override {
    if (!cuda_is_available()) GTEST_SKIP() << "no CUDA device on this machine (cuda_device_count() == 0)";
  }
};

TEST_P(CudaOps, MatchesPyTorch) { check_golden_case(GetParam(), kGpu, tolerance); }

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Golden, CudaOps, ::testing::ValuesIn(golden_cases()), case_name);

}  // namespace
