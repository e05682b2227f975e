#include "ops/attention.h"

#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/linalg.h"
#include "ops/reduce.h"
#include "ops/shape.h"

namespace anneal::detail {

TensorList attention_backward_from_lse(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                       const Tensor& lse, const Tensor& grad_out, bool causal, double scale) {
  const DType low = q.dtype();
  const int64_t L = q.size(-2), S = k.size(-2);
  Tensor p = exp(matmul(q * scale, k.mT()).to(DType::Float32) - lse.unsqueeze(-1));  // [.., L, S]
  if (causal) p = where(tril(ones({L, S}, {DType::Bool, q.device()})), p, 0.0);
  const Tensor dv = matmul(p.to(low).mT(), grad_out);
  const Tensor dp = matmul(grad_out, v.mT()).to(DType::Float32);
  // Σ_s p·dp = Σ_e grad_out·out per row: the softmax backward without the L×S product
  const Tensor delta = sum(grad_out.to(DType::Float32) * out.to(DType::Float32), {-1}, true);
  const Tensor ds = (p * (dp - delta)).to(low);
  return {matmul(ds, k) * scale, matmul(ds.mT(), q) * scale, dv};
}

std::optional<Tensor> fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, double scale) {
  if (!q.device().is_cuda() || q.dim() != k.dim() || q.dim() != v.dim() || (q.dim() != 3 && q.dim() != 4))
    return std::nullopt;
  if (q.device() != k.device() || q.device() != v.device()) return std::nullopt;
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype() || v.size(-1) != q.size(-1)) return std::nullopt;
  for (int64_t d = 0; d < q.dim() - 2; ++d)
    if (k.size(d) != q.size(d) || v.size(d) != q.size(d)) return std::nullopt;  // no batch broadcasting
  Tensor q4, k4, v4;
  {
    NoGradGuard ng;  // plain views: the node below records the real inputs
    q4 = q.dim() == 3 ? q.unsqueeze(0) : q;
    k4 = k.dim() == 3 ? k.unsqueeze(0) : k;
    v4 = v.dim() == 3 ? v.unsqueeze(0) : v;
  }
  const int64_t B = q4.size(0), H = q4.size(1), L = q4.size(2), E = q4.size(3);
  Tensor out = empty_on({B, H, L, E}, q.dtype(), q.device());
  Tensor lse = empty_on({B, H, L}, DType::Float32, q.device());
  if (!backend_of(q).attention_forward(q4, k4, v4, out, lse, causal, scale)) return std::nullopt;
  if (q.dim() == 3) {
    out = reshape_raw(out, {H, L, E});
    lse = reshape_raw(lse, {H, L});
  }
  if (autograd::any_requires_grad({q, k, v})) {
    auto saved = std::make_shared<std::array<SavedTensor, 4>>();
    autograd::record("ScaledDotProductFlashAttentionBackward0", {q, k, v}, {out},
                     [saved, lse, causal, scale](const TensorList& g) -> TensorList {
                       return attention_backward_from_lse((*saved)[0].unpack(), (*saved)[1].unpack(),
                                                          (*saved)[2].unpack(), (*saved)[3].unpack(), lse, g[0],
                                                          causal, scale);
                     });
    *saved = {SavedTensor(q, false), SavedTensor(k, false), SavedTensor(v, false), SavedTensor(out, true)};
  }
  return out;
}

}  // namespace anneal::detail
