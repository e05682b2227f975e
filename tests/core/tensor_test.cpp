#include <gtest/gtest.h>

#include "anneal.h"

using namespace anneal;

TEST(Tensor, Basics) {
  Tensor a = tensor({1.0, 2.0, 3.0, 4.0}).reshape({2, 2});
  EXPECT_EQ(a.shape(), (Shape{2, 2}));
  EXPECT_EQ(a.str(), "tensor([[1., 2.],\n        [3., 4.]])");
}
