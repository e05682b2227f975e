// The packed float32 GEMM against a float64 product, over shapes that exercise every
// edge: partial tiles in M and N, several K blocks, transposed operands, batches,
// thread counts.
#include <gtest/gtest.h>

#include <cmath>

#include "anneal.h"

using namespace anneal;

namespace {

struct GemmShape {
  int64_t B, M, K, N;
  bool ta, tb;
};

class Gemm : public ::testing::TestWithParam<GemmShape> {};

TEST_P(Gemm, MatchesFloat64Reference) {
  const auto p = GetParam();
  manual_seed(uint64_t(p.M * 131 + p.N * 7 + p.K));
  // operands built transposed when asked, so the kernel sees column-major views
  Tensor a = p.ta ? randn({p.B, p.K, p.M}).mT() : randn({p.B, p.M, p.K});
  Tensor b = p.tb ? randn({p.B, p.N, p.K}).mT() : randn({p.B, p.K, p.N});
  Tensor ref = bmm(a.to(DType::Float64), b.to(DType::Float64));
  for (int threads : {1, 2}) {
    int prev = get_num_threads();
    set_num_threads(threads);
    Tensor got = bmm(a, b);
    set_num_threads(prev);
    ASSERT_EQ(got.sizes(), ref.sizes());
    if (ref.numel() == 0) continue;
    // float32 products of K terms: error grows like sqrt(K) * eps * |a||b|
    double tol = 1e-5 * std::sqrt(double(p.K) + 1) * 4;
    double err = amax(abs(got.to(DType::Float64) - ref)).item<double>();
    EXPECT_LT(err, tol) << "threads=" << threads;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Gemm,
                         ::testing::Values(GemmShape{1, 1, 1, 1, false, false}, GemmShape{1, 13, 7, 31, false, false},
                                           GemmShape{1, 15, 400, 33, false, false},  // K spans two blocks
                                           GemmShape{1, 100, 800, 70, true, false}, GemmShape{1, 64, 129, 97, false, true},
                                           GemmShape{1, 29, 385, 65, true, true}, GemmShape{3, 17, 33, 45, false, false},
                                           GemmShape{8, 5, 9, 3, true, true}, GemmShape{1, 256, 256, 256, false, false},
                                           GemmShape{1, 3, 1000, 1, false, false}, GemmShape{2, 0, 4, 5, false, false},
                                           GemmShape{1, 4, 0, 5, false, false},
                                           // row edges of every height on full-width tiles, with accumulation
                                           GemmShape{1, 41, 400, 64, false, false}, GemmShape{1, 15, 50, 32, true, false},
                                           GemmShape{2, 128, 32, 128, false, true}, GemmShape{1, 20, 390, 96, true, true},
                                           GemmShape{1, 7, 9, 32, false, false}, GemmShape{1, 26, 3, 32, false, false}));

TEST(GemmBroadcast, BatchStrideZeroIsNotCopied) {
  // [O, K] @ [N, K, L]: the weight is shared by every batch entry (stride 0)
  Tensor w = randn({6, 10}), x = randn({4, 10, 7});
  Tensor got = matmul(w, x);
  Tensor ref = matmul(w.to(DType::Float64), x.to(DType::Float64));
  EXPECT_LT(amax(abs(got.to(DType::Float64) - ref)).item<double>(), 1e-4);
}

}  // namespace

namespace {

// The per-image convolution kernels against the unfold + matmul formulation, over a batch
// spanning several chunks, with groups, at 1 and 2 threads (same bits at both).
TEST(ConvKernels, MatchCompositeAndIgnoreThreadCount) {
  manual_seed(5);
  Tensor x = randn({9, 4, 7, 6}, DType::Float64), w = randn({6, 2, 3, 3}, DType::Float64);
  Conv2dOptions opt{2, 1, 1, 2, 1, 1, 2};
  auto run = [&](int threads) {
    int prev = get_num_threads();
    set_num_threads(threads);
    Tensor xs = x.clone().set_requires_grad(), ws = w.clone().set_requires_grad();
    Tensor y = conv2d(xs, ws, Tensor(), opt);
    sum(y * y).backward();
    set_num_threads(prev);
    return TensorList{y.detach(), xs.grad(), ws.grad()};
  };
  TensorList one = run(1), two = run(2);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(equal(one[i], two[i])) << "output " << i;
  // reference: unfold + matmul, differentiated by autograd
  Tensor xr = x.clone().set_requires_grad(), wr = w.clone().set_requires_grad();
  const int64_t OH = one[0].size(2), OW = one[0].size(3);
  Tensor cols = unfold(xr, 3, 3, opt).reshape({9, 2, 2 * 9, OH * OW});
  Tensor yr = matmul(wr.reshape({2, 3, -1}), cols).reshape({9, 6, OH, OW});
  sum(yr * yr).backward();
  EXPECT_TRUE(allclose(one[0], yr.detach(), 1e-12, 1e-12));
  EXPECT_TRUE(allclose(one[1], xr.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(allclose(one[2], wr.grad(), 1e-10, 1e-10));
}

}  // namespace
