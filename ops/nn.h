#pragma once
// Neural-network functions (torch.nn.functional).
#include <optional>
#include <tuple>

#include "core/generator.h"
#include "core/tensor.h"

namespace anneal {

enum class Reduction { None, Mean, Sum };

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

struct CrossEntropyOptions {
  Tensor weight;                // [C], optional
  int64_t ignore_index = -100;  // class-index targets only
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::Mean;
};
// logits [N, C] or [N, C, d1, ...] (or [C]); target: class indices [N, d1, ...] (int64)
// or class probabilities with the logits' shape.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt = {});
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = Tensor(),
                int64_t ignore_index = -100, Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                      double beta = 1.0);
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, const Tensor& weight = Tensor(),
                            Reduction reduction = Reduction::Mean);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor(),
                                        const Tensor& pos_weight = Tensor(), Reduction reduction = Reduction::Mean);

// Zeroes elements with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);

struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;
  static Conv2dOptions square(int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1) {
    return {stride, stride, padding, padding, dilation, dilation, groups};
  }
};
// x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O]
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& opt = Conv2dOptions());
// Sliding blocks: [N, C, H, W] → [N, C*kh*kw, L] (torch.nn.functional.unfold).
Tensor unfold(const Tensor& x, int64_t kh, int64_t kw, const Conv2dOptions& opt = Conv2dOptions(), double pad_value = 0);

// Values and flat H*W indices of each window's maximum.
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, int64_t kernel, int64_t stride = -1,
                                                   int64_t padding = 0, int64_t dilation = 1);
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = -1, int64_t padding = 0, int64_t dilation = 1);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = -1, int64_t padding = 0,
                  bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

// Training mode normalises with the batch statistics and updates running_mean/var in
// place (momentum as in PyTorch); eval mode uses the running statistics.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
Tensor layer_norm(const Tensor& x, const IntList& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);

// Recurrent cells' gates, fused (PyTorch's gate orders; formulas in kernels/rnn_math.h).
// LSTM: gates [..., 4H] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh (i, f, g, o), c [..., H] →
// (h', c'). GRU: x_gates, h_gates [..., 3H] = x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh (r, z, n),
// h [..., H] → h'.
std::tuple<Tensor, Tensor> lstm_cell_gates(const Tensor& gates, const Tensor& c);
Tensor gru_cell_gates(const Tensor& x_gates, const Tensor& h_gates, const Tensor& h);

// q [..., L, E], k [..., S, E], v [..., S, Ev]; a bool mask keeps True positions, a float
// mask is added to the scores. dropout_p drops attention weights (training only: pass 0
// in evaluation), drawn from `gen` or the default generator.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask = Tensor(), bool is_causal = false,
                                    std::optional<double> scale = {}, double dropout_p = 0.0,
                                    Generator* gen = nullptr);

}  // namespace anneal
