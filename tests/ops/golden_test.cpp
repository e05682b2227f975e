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

TEST_P(GoldenTest, MatchesPyTorch) { check_golden_case(GetParam(), kCPU, tolerance); }

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Ops, GoldenTest, ::testing::ValuesIn(golden_cases()), case_name);

}  // namespace
