#include "nn/attention.h"

#include <cmath>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "nn/init.h"

namespace anneal::nn {

namespace {
Tensor xavier_weight(int64_t rows, int64_t cols) {
  Tensor w = empty({rows, cols});
  init::xavier_uniform_(w);
  return w;
}
int64_t checked_embed_dim(int64_t embed_dim, int64_t num_heads) {
  ANNEAL_CHECK(embed_dim > 0 && num_heads > 0, ValueError, "MultiheadAttention: embed_dim (", embed_dim,
               ") and num_heads (", num_heads, ") must be positive");
  ANNEAL_CHECK(embed_dim % num_heads == 0, ValueError, "MultiheadAttention: embed_dim (", embed_dim,
               ") must be divisible by num_heads (", num_heads, ")");
  return embed_dim;
}
}  // namespace

// PyTorch's initialisation: xavier_uniform_ projections, zero biases; out_proj keeps the
// Linear default weight with a zero bias.
MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, MultiheadAttentionOptions options)
    : in_proj_weight(register_parameter("in_proj_weight",
                                        xavier_weight(3 * checked_embed_dim(embed_dim, num_heads), embed_dim))),
      in_proj_bias(register_parameter("in_proj_bias", options.bias ? zeros({3 * embed_dim}) : Tensor())),
      out_proj(register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, options.bias))),
      embed_dim_(embed_dim),
      num_heads_(num_heads),
      opt_(options) {
  ANNEAL_CHECK(options.dropout >= 0 && options.dropout < 1, ValueError,
               "MultiheadAttention: dropout must be in [0, 1), got ", options.dropout);
  if (out_proj->bias.defined()) init::zeros_(out_proj->bias);
}

Tensor MultiheadAttention::split_heads(const Tensor& x) const {
  // [B, T, E] -> [B, T, H, D] -> [B, H, T, D]
  return x.unflatten(-1, {num_heads_, embed_dim_ / num_heads_}).transpose(-3, -2);
}

Tensor MultiheadAttention::attend(const Tensor& query, const Tensor& key, const Tensor& value,
                                  const Tensor& attn_mask) {
  for (const Tensor* t : {&query, &key, &value}) {
    ANNEAL_CHECK(t->defined(), ValueError, "MultiheadAttention: query, key and value must be defined");
    ANNEAL_CHECK((t->dim() == 2 || t->dim() == 3) && t->size(-1) == embed_dim_, ValueError,
                 "MultiheadAttention: expected inputs of shape [B, T, ", embed_dim_, "] or [T, ", embed_dim_,
                 "], got ", shape_to_string(t->shape()));
  }
  Tensor q, k, v;
  if (query.is_same(key) && key.is_same(value)) {
    // Self-attention: one projection to [.., 3E], then split.
    TensorList qkv = chunk(linear(query, in_proj_weight, in_proj_bias), 3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    TensorList w = chunk(in_proj_weight, 3, 0);
    TensorList b = in_proj_bias.defined() ? chunk(in_proj_bias, 3, 0) : TensorList{Tensor(), Tensor(), Tensor()};
    q = linear(query, w[0], b[0]), k = linear(key, w[1], b[1]), v = linear(value, w[2], b[2]);
  }
  double p = is_training() ? opt_.dropout : 0.0;
  Tensor out = scaled_dot_product_attention(split_heads(q), split_heads(k), split_heads(v), attn_mask,
                                            opt_.causal && !attn_mask.defined(), {}, p);
  // [B, H, L, D] -> [B, L, H, D] -> [B, L, E]
  out = out.transpose(-3, -2).flatten(-2, -1);
  return (*out_proj)(out);
}

std::string MultiheadAttention::extra_repr() const {
  return str("embed_dim=", embed_dim_, ", num_heads=", num_heads_, ", dropout=", opt_.dropout,
             opt_.causal ? ", causal=True" : "");
}

TransformerBlock::TransformerBlock(int64_t d_model, int64_t num_heads, TransformerBlockOptions o)
    : ln_1(register_module("ln_1", std::make_shared<LayerNorm>(IntList{d_model}))),
      attn(register_module("attn", std::make_shared<MultiheadAttention>(
                                       d_model, num_heads, MultiheadAttentionOptions{o.dropout, o.bias, o.causal}))),
      ln_2(register_module("ln_2", std::make_shared<LayerNorm>(IntList{d_model}))),
      fc(register_module("fc", std::make_shared<Linear>(d_model, o.mlp_ratio * d_model, o.bias))),
      proj(register_module("proj", std::make_shared<Linear>(o.mlp_ratio * d_model, d_model, o.bias))),
      dropout_(o.dropout) {}

Tensor TransformerBlock::forward(const Tensor& x) {
  Tensor h = x + dropout((*attn)((*ln_1)(x)), dropout_, is_training());
  return h + dropout((*proj)(gelu((*fc)((*ln_2)(h)))), dropout_, is_training());
}

}  // namespace anneal::nn
