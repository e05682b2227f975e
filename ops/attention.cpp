#include "ops/attention.h"

#include <cmath>

#include "ops/autocast.h"
#include "ops/nn.h"
#include "ops/nn_common.h"

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

namespace anneal {
using namespace detail;

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    bool is_causal, std::optional<double> scale, double dropout_p, Generator* gen) {
  check_defined("scaled_dot_product_attention", q, "query");
  check_defined("scaled_dot_product_attention", k, "key");
  check_defined("scaled_dot_product_attention", v, "value");
  if (auto c = detail::autocast_low({&q, &k, &v}))
    return scaled_dot_product_attention((*c)[0], (*c)[1], (*c)[2], attn_mask, is_causal, scale, dropout_p, gen);
  ANNEAL_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, ValueError,
               "scaled_dot_product_attention: query, key and value need at least 2 dims");
  ANNEAL_CHECK(q.size(-1) == k.size(-1), ValueError, "scaled_dot_product_attention: query and key embedding sizes differ (",
               q.size(-1), " vs ", k.size(-1), ")");
  ANNEAL_CHECK(k.size(-2) == v.size(-2), ValueError, "scaled_dot_product_attention: key and value lengths differ (",
               k.size(-2), " vs ", v.size(-2), ")");
  ANNEAL_CHECK(!(is_causal && attn_mask.defined()), ValueError,
               "scaled_dot_product_attention: pass either attn_mask or is_causal, not both");
  const int64_t L = q.size(-2), S = k.size(-2);
  const double sc = scale.value_or(1.0 / std::sqrt(double(q.size(-1))));
  if (!attn_mask.defined() && dropout_p == 0)
    if (auto fused = fused_attention(q, k, v, is_causal, sc)) return *fused;
  // Scaling the queries costs L·E multiplications instead of L·S on the scores.
  Tensor scores = matmul(q * sc, k.mT());
  Tensor weights;
  if (is_causal && L > 0 && rows_kernel_applies(scores, scores.dim() - 1)) {
    weights = softmax_family(scores, -1, false, L);  // the mask applied inside the row kernel
  } else if (is_causal) {
    Tensor keep = tril(ones({L, S}, {DType::Bool, q.device()}));
    scores = where(keep, scores, -INFINITY);
  } else if (attn_mask.defined()) {
    scores = attn_mask.dtype() == DType::Bool ? where(attn_mask, scores, -INFINITY) : scores + attn_mask;
  }
  if (!weights.defined()) weights = softmax(scores, -1);
  if (dropout_p > 0) weights = dropout(weights, dropout_p, true, gen);
  return matmul(weights, v);
}

}  // namespace anneal
