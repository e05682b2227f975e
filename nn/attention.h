#pragma once
// Attention layers: multi-head attention with PyTorch's parameter layout (so weights load
// from torch.nn.MultiheadAttention state dicts) and a pre-LN transformer block.
#include "nn/layers.h"

namespace anneal::nn {

struct MultiheadAttentionOptions {
  double dropout = 0.0;  // on the attention weights, in training mode
  bool bias = true;
  bool causal = false;   // each position attends to itself and earlier ones only
};

// Batch-first: inputs [B, T, E] (or unbatched [T, E]).
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, MultiheadAttentionOptions options = {});
  // Self-attention.
  Tensor forward(const Tensor& x) override { return attend(x, x, x); }
  // query [B, L, E], key/value [B, S, E] -> [B, L, E]. A bool mask keeps True positions;
  // a float mask is added to the scores; it broadcasts against [B, H, L, S].
  Tensor attend(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_mask = Tensor());
  std::string type_name() const override { return "MultiheadAttention"; }
  std::string extra_repr() const override;

  Tensor& in_proj_weight;  // [3E, E]: query, key and value projections stacked
  Tensor& in_proj_bias;    // [3E] or undefined
  std::shared_ptr<Linear> out_proj;

 private:
  Tensor split_heads(const Tensor& x) const;  // [B, T, E] -> [B, H, T, D]
  int64_t embed_dim_, num_heads_;
  MultiheadAttentionOptions opt_;
};

struct TransformerBlockOptions {
  double dropout = 0.0;  // on the residual branches and the attention weights
  bool causal = true;
  int64_t mlp_ratio = 4;
  bool bias = true;
};

// Pre-LN: x + attn(ln_1(x)), then h + mlp(ln_2(h)) with mlp = fc -> GELU -> proj.
class TransformerBlock : public Module {
 public:
  TransformerBlock(int64_t d_model, int64_t num_heads, TransformerBlockOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "TransformerBlock"; }

  std::shared_ptr<LayerNorm> ln_1;
  std::shared_ptr<MultiheadAttention> attn;
  std::shared_ptr<LayerNorm> ln_2;
  std::shared_ptr<Linear> fc, proj;

 private:
  double dropout_;
};

}  // namespace anneal::nn
