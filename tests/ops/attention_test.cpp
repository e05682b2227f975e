// The fused attention's backward (gradients recomputed from the saved log-sum-exp)
// against autograd through the composite scaled_dot_product_attention, on the CPU in
// float64; the fused forward itself runs on the GPU (tests/cuda).
#include <gtest/gtest.h>

#include <cmath>

#include "anneal.h"
#include "ops/attention.h"

using namespace anneal;

namespace {

TEST(FusedAttention, BackwardFromLogSumExpMatchesAutograd) {
  for (bool causal : {false, true}) {
    for (auto [L, S] : {std::pair<int64_t, int64_t>{5, 5}, {4, 7}, {6, 3}}) {
      manual_seed(3);
      Tensor q = randn({2, 3, L, 8}, DType::Float64).set_requires_grad();
      Tensor k = randn({2, 3, S, 8}, DType::Float64).set_requires_grad();
      Tensor v = randn({2, 3, S, 8}, DType::Float64).set_requires_grad();
      Tensor g = randn({2, 3, L, 8}, DType::Float64);
      const double scale = 0.37;
      Tensor out = scaled_dot_product_attention(q, k, v, Tensor(), causal, scale);
      out.backward(g);
      // the forward's row log-sum-exp of the scaled (masked) scores
      Tensor scores = matmul(q.detach() * scale, k.detach().mT());
      if (causal) scores = where(tril(ones({L, S}, DType::Bool)), scores, -INFINITY);
      Tensor lse = logsumexp(scores, {-1}).to(DType::Float32);
      TensorList grads = detail::attention_backward_from_lse(q.detach(), k.detach(), v.detach(), out.detach(), lse, g,
                                                             causal, scale);
      // lse passes through float32, as the kernel stores it
      EXPECT_TRUE(allclose(grads[0], q.grad(), 1e-5, 1e-6)) << "dq causal " << causal << " L " << L << " S " << S;
      EXPECT_TRUE(allclose(grads[1], k.grad(), 1e-5, 1e-6)) << "dk causal " << causal << " L " << L << " S " << S;
      EXPECT_TRUE(allclose(grads[2], v.grad(), 1e-5, 1e-6)) << "dv causal " << causal << " L " << L << " S " << S;
    }
  }
}

TEST(FusedAttention, NotTakenOnTheCpu) {
  Tensor q = randn({1, 2, 4, 64}).to(DType::BFloat16);
  EXPECT_FALSE(detail::fused_attention(q, q, q, true, 0.125).has_value());
}

}  // namespace
