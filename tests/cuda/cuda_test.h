#pragma once
// What every GPU test shares: a fixture that skips, saying why, on a machine without a
// CUDA device, and the first device.
#include <gtest/gtest.h>

#include "anneal.h"

namespace anneal::test {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_is_available()) GTEST_SKIP() << "no CUDA device on this machine (cuda_device_count() == 0)";
  }
  const Device gpu{"cuda:0"};
};

}  // namespace anneal::test
