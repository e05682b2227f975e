// Flash attention on the GPU (bf16/fp16, head sizes 64 and 128, causal or not, ragged
// lengths, strided q/k/v as a GPT's fused projection makes them) against the composite
// attention on the CPU in float32 from the same rounded inputs, forward and backward.
#include <gtest/gtest.h>

#include "anneal.h"
#include "cuda_test.h"

using namespace anneal;

namespace {

using CudaAttention = anneal::test::CudaTest;

struct AttentionRun {
  Tensor out, dq, dk, dv;
  std::string node;
};

// q, k, v as slices of one [B, T, 3, H, E] projection, transposed to [B, H, T, E].
AttentionRun attention(const Tensor& qkv_src, int64_t L, int64_t S, bool causal, const Device& d, DType dt, const Tensor& g) {
  Tensor src = qkv_src.to(dt).to(d);
  Tensor q = src.select(2, 0).narrow(1, 0, L).transpose(1, 2);
  Tensor k = src.select(2, 1).narrow(1, 0, S).transpose(1, 2);
  Tensor v = src.select(2, 2).narrow(1, 0, S).transpose(1, 2);
  if (d.is_cpu()) q = q.to(DType::Float32), k = k.to(DType::Float32), v = v.to(DType::Float32);
  q = q.detach().set_requires_grad(), k = k.detach().set_requires_grad(), v = v.detach().set_requires_grad();
  Tensor out = scaled_dot_product_attention(q, k, v, Tensor(), causal);
  AttentionRun r;
  r.node = out.grad_fn() ? out.grad_fn()->name() : "";
  out.backward(g.to(out.dtype()).to(d));
  r.out = out.detach().cpu().to(DType::Float32);
  r.dq = q.grad().cpu().to(DType::Float32), r.dk = k.grad().cpu().to(DType::Float32);
  r.dv = v.grad().cpu().to(DType::Float32);
  return r;
}

TEST_F(CudaAttention, FlashMatchesTheCompositeOnTheCpu) {
  for (DType dt : {DType::BFloat16, DType::Float16}) {
    for (int64_t E : {64, 128}) {
      for (bool causal : {false, true}) {
        for (auto [L, S] : {std::pair<int64_t, int64_t>{100, 100}, {64, 130}, {1, 1}, {129, 70}}) {
          manual_seed(9);
          const int64_t B = 2, H = 3, T = std::max(L, S);
          Tensor src = randn({B, T, 3, H, E});
          Tensor g = randn({B, H, L, E});
          const AttentionRun gpu = attention(src, L, S, causal, Device("cuda:0"), dt, g);
          const AttentionRun cpu = attention(src, L, S, causal, kCPU, dt, g);
          const std::string what = str(dtype_name(dt), " E ", E, " causal ", causal, " L ", L, " S ", S);
          EXPECT_EQ(gpu.node, "ScaledDotProductFlashAttentionBackward0") << what;
          EXPECT_TRUE(allclose(gpu.out, cpu.out, 2e-2, 2e-2)) << "out " << what;
          EXPECT_TRUE(allclose(gpu.dq, cpu.dq, 5e-2, 5e-2)) << "dq " << what;
          EXPECT_TRUE(allclose(gpu.dk, cpu.dk, 5e-2, 5e-2)) << "dk " << what;
          EXPECT_TRUE(allclose(gpu.dv, cpu.dv, 5e-2, 5e-2)) << "dv " << what;
        }
      }
    }
  }
}

TEST_F(CudaAttention, OtherShapesTakeTheCompositePath) {
  Tensor q = randn({2, 4, 16, 32}).to(DType::BFloat16).to(Device("cuda:0")).set_requires_grad();  // E = 32
  Tensor out = scaled_dot_product_attention(q, q, q, Tensor(), true);
  EXPECT_NE(out.grad_fn()->name(), "ScaledDotProductFlashAttentionBackward0");
  Tensor f = randn({2, 4, 16, 64}).to(Device("cuda:0")).set_requires_grad();  // float32
  EXPECT_NE(scaled_dot_product_attention(f, f, f).grad_fn()->name(), "ScaledDotProductFlashAttentionBackward0");
}

}  // namespace
