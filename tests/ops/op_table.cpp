#include "op_table.h"

#include <sstream>

namespace anneal::test {

const std::string& Kw::s(const std::string& k) const {
  auto it = values.find(k);
  if (it == values.end()) throw std::runtime_error("golden case lacks kwarg '" + k + "'");
  return it->second;
}

IntList Kw::list(const std::string& k) const {
  IntList out;
  std::stringstream ss(s(k));
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) out.push_back(std::stoll(part));
  return out;
}

static Reduction reduction(const Kw& kw) {
  std::string r = kw.has("reduction") ? kw.s("reduction") : "mean";
  return r == "sum" ? Reduction::Sum : r == "none" ? Reduction::None : Reduction::Mean;
}

static Scalar scalar_kw(const Kw& kw, const std::string& k) {
  const std::string& v = kw.s(k);
  if (v.find_first_of(".eE") != std::string::npos || v == "inf" || v == "nan") return Scalar(std::stod(v));
  return Scalar(int64_t(std::stoll(v)));
}

static Tensor part(const TensorList& parts, int64_t i) {
  ANNEAL_CHECK(i >= 0 && size_t(i) < parts.size(), IndexError, "no part ", i, " among ", parts.size());
  return parts[size_t(i)];
}

#define OP(name, body) {name, [](const TensorList& x, const Kw& kw) -> Tensor { (void)kw; return body; }}

const std::map<std::string, OpFn>& op_table() {
  static const std::map<std::string, OpFn> table = {
      OP("neg", neg(x[0])), OP("abs", abs(x[0])), OP("exp", exp(x[0])), OP("expm1", expm1(x[0])),
      OP("log", log(x[0])), OP("log1p", log1p(x[0])), OP("sqrt", sqrt(x[0])), OP("rsqrt", rsqrt(x[0])),
      OP("reciprocal", reciprocal(x[0])), OP("square", square(x[0])), OP("sin", sin(x[0])), OP("cos", cos(x[0])),
      OP("tanh", tanh(x[0])), OP("sigmoid", sigmoid(x[0])), OP("relu", relu(x[0])),
      OP("leaky_relu", leaky_relu(x[0], kw.d("slope"))), OP("gelu", gelu(x[0])), OP("gelu_tanh", gelu(x[0], true)),
      OP("silu", silu(x[0])), OP("softplus", softplus(x[0], kw.d("beta"), kw.d("threshold"))),
      OP("sign", sign(x[0])), OP("floor", floor(x[0])), OP("ceil", ceil(x[0])), OP("round", round(x[0])),
      OP("erf", erf(x[0])), OP("pow_scalar", pow(x[0], scalar_kw(kw, "e"))),
      OP("clamp", clamp(x[0], kw.d("lo"), kw.d("hi"))),
      OP("add", add(x[0], x[1])), OP("sub", sub(x[0], x[1])), OP("mul", mul(x[0], x[1])), OP("div", div(x[0], x[1])),
      OP("pow", pow(x[0], x[1])), OP("maximum", maximum(x[0], x[1])), OP("minimum", minimum(x[0], x[1])),
      OP("atan2", atan2(x[0], x[1])), OP("eq", eq(x[0], x[1])), OP("ne", ne(x[0], x[1])), OP("lt", lt(x[0], x[1])),
      OP("le", le(x[0], x[1])), OP("gt", gt(x[0], x[1])), OP("ge", ge(x[0], x[1])),
      OP("logical_and", logical_and(x[0], x[1])), OP("logical_or", logical_or(x[0], x[1])),
      OP("where", where(x[0], x[1], x[2])), OP("lerp", lerp(x[0], x[1], x[2])),
      OP("lerp_scalar", lerp(x[0], x[1], kw.d("w"))), OP("masked_fill", masked_fill(x[0], x[1], kw.d("value"))),
      OP("add_scalar", x[0] + scalar_kw(kw, "s")), OP("mul_scalar", x[0] * scalar_kw(kw, "s")),
      OP("rsub_scalar", scalar_kw(kw, "s") - x[0]), OP("rdiv_scalar", scalar_kw(kw, "s") / x[0]),
      OP("div_scalar", x[0] / scalar_kw(kw, "s")),
      OP("sum", kw.has("dims") ? sum(x[0], kw.list("dims"), kw.i("keepdim", 0)) : sum(x[0])),
      OP("mean", kw.has("dims") ? mean(x[0], kw.list("dims"), kw.i("keepdim", 0)) : mean(x[0])),
      OP("prod", kw.has("dim") ? prod(x[0], {kw.i("dim")}, kw.i("keepdim", 0)) : prod(x[0])),
      OP("amax", amax(x[0], kw.list("dims"), kw.i("keepdim", 0))),
      OP("amin", amin(x[0], kw.list("dims"), kw.i("keepdim", 0))), OP("max_all", max(x[0])), OP("min_all", min(x[0])),
      OP("max_dim_values", std::get<0>(max(x[0], kw.i("dim"), kw.i("keepdim", 0)))),
      OP("max_dim_indices", std::get<1>(max(x[0], kw.i("dim"), kw.i("keepdim", 0)))),
      OP("min_dim_values", std::get<0>(min(x[0], kw.i("dim"), kw.i("keepdim", 0)))),
      OP("argmax", kw.has("dim") ? argmax(x[0], kw.i("dim"), kw.i("keepdim", 0)) : argmax(x[0])),
      OP("argmin", kw.has("dim") ? argmin(x[0], kw.i("dim"), kw.i("keepdim", 0)) : argmin(x[0])),
      OP("var", var(x[0], kw.list("dims"), kw.i("unbiased", 1), kw.i("keepdim", 0))),
      OP("std", anneal::std(x[0], kw.list("dims"), kw.i("unbiased", 1), kw.i("keepdim", 0))),
      OP("logsumexp", logsumexp(x[0], kw.list("dims"), kw.i("keepdim", 0))),
      OP("norm", norm(x[0], kw.d("p"), kw.has("dims") ? kw.list("dims") : IntList{}, kw.i("keepdim", 0))),
      OP("all", kw.has("dims") ? all(x[0], kw.list("dims")) : all(x[0])),
      OP("any", kw.has("dims") ? any(x[0], kw.list("dims")) : any(x[0])),
      OP("matmul", matmul(x[0], x[1])), OP("mm", mm(x[0], x[1])), OP("bmm", bmm(x[0], x[1])),
      OP("addmm", addmm(x[0], x[1], x[2], kw.d("beta"), kw.d("alpha"))), OP("linear", linear(x[0], x[1], x[2])),
      OP("linear_nobias", linear(x[0], x[1])), OP("outer", outer(x[0], x[1])),
      OP("reshape", x[0].reshape(kw.list("shape"))), OP("view", x[0].view(kw.list("shape"))),
      OP("permute", x[0].permute(kw.list("dims"))), OP("transpose", x[0].transpose(kw.i("d0"), kw.i("d1"))),
      OP("narrow", x[0].narrow(kw.i("dim"), kw.i("start"), kw.i("length"))),
      OP("slice", x[0].slice(kw.i("dim"), kw.i("start"), kw.i("end"), kw.i("step"))),
      OP("select", x[0].select(kw.i("dim"), kw.i("index"))), OP("expand", x[0].expand(kw.list("shape"))),
      OP("squeeze", kw.has("dim") ? x[0].squeeze(kw.i("dim")) : x[0].squeeze()),
      OP("unsqueeze", x[0].unsqueeze(kw.i("dim"))), OP("flatten", x[0].flatten(kw.i("start"), kw.i("end"))),
      OP("cat", cat(x, kw.i("dim"))), OP("stack", stack(x, kw.i("dim"))),
      OP("split_part", part(split(x[0], kw.i("size"), kw.i("dim")), kw.i("part"))),
      OP("chunk_part", part(chunk(x[0], kw.i("chunks"), kw.i("dim")), kw.i("part"))),
      OP("index_select", index_select(x[0], kw.i("dim"), x[1])), OP("gather", gather(x[0], kw.i("dim"), x[1])),
      OP("scatter", scatter(x[0], kw.i("dim"), x[1], x[2])),
      OP("scatter_add", scatter_add(x[0], kw.i("dim"), x[1], x[2])),
      OP("index_add", index_add(x[0], kw.i("dim"), x[1], x[2])), OP("masked_select", masked_select(x[0], x[1])),
      OP("index_int", x[0].index(x[1])), OP("pad", pad(x[0], kw.list("pads"), kw.d("value", 0.0))),
      OP("repeat", repeat(x[0], kw.list("reps"))), OP("tril", tril(x[0], kw.i("k"))), OP("triu", triu(x[0], kw.i("k"))),
      OP("one_hot", one_hot(x[0], kw.i("n"))), OP("embedding", embedding(x[0], x[1])),
      OP("as_strided", x[0].as_strided(kw.list("size"), kw.list("stride"), kw.i("offset"))),
      OP("to_dtype", x[0].to(dtype_from_name(kw.s("dtype")))),
      OP("softmax", softmax(x[0], kw.i("dim"))), OP("log_softmax", log_softmax(x[0], kw.i("dim"))),
      {"cross_entropy",
       [](const TensorList& x, const Kw& kw) {
         CrossEntropyOptions o;
         o.reduction = reduction(kw);
         o.ignore_index = kw.i("ignore_index", -100);
         o.label_smoothing = kw.d("smoothing", 0.0);
         return cross_entropy(x[0], x[1], o);
       }},
      {"cross_entropy_w",
       [](const TensorList& x, const Kw& kw) {
         CrossEntropyOptions o;
         o.weight = x[2];
         o.reduction = reduction(kw);
         o.ignore_index = kw.i("ignore_index", -100);
         o.label_smoothing = kw.d("smoothing", 0.0);
         return cross_entropy(x[0], x[1], o);
       }},
      OP("nll_loss", nll_loss(x[0], x[1], Tensor(), kw.i("ignore_index", -100), reduction(kw))),
      OP("mse_loss", mse_loss(x[0], x[1], reduction(kw))), OP("l1_loss", l1_loss(x[0], x[1], reduction(kw))),
      OP("smooth_l1_loss", smooth_l1_loss(x[0], x[1], reduction(kw), kw.d("beta", 1.0))),
      OP("bce", binary_cross_entropy(x[0], x[1], Tensor(), reduction(kw))),
      OP("bce_logits", binary_cross_entropy_with_logits(x[0], x[1], Tensor(), Tensor(), reduction(kw))),
      OP("bce_logits_w", binary_cross_entropy_with_logits(x[0], x[1], x[2], x[3])),
      {"conv2d",
       [](const TensorList& x, const Kw& kw) {
         return conv2d(x[0], x[1], x[2],
                       Conv2dOptions::square(kw.i("stride", 1), kw.i("padding", 0), kw.i("dilation", 1), kw.i("groups", 1)));
       }},
      {"conv2d_nobias",
       [](const TensorList& x, const Kw& kw) {
         return conv2d(x[0], x[1], Tensor(),
                       Conv2dOptions::square(kw.i("stride", 1), kw.i("padding", 0), kw.i("dilation", 1), kw.i("groups", 1)));
       }},
      OP("max_pool2d", max_pool2d(x[0], kw.i("k"), kw.i("stride", -1), kw.i("padding", 0), kw.i("dilation", 1))),
      OP("max_pool2d_indices",
         std::get<1>(max_pool2d_with_indices(x[0], kw.i("k"), kw.i("stride", -1), kw.i("padding", 0), kw.i("dilation", 1)))),
      OP("avg_pool2d", avg_pool2d(x[0], kw.i("k"), kw.i("stride", -1), kw.i("padding", 0), kw.i("include_pad", 1))),
      OP("adaptive_avg_pool2d", adaptive_avg_pool2d(x[0], kw.i("oh"), kw.i("ow"))),
      OP("batch_norm_train", batch_norm(x[0], x[3].clone(), x[4].clone(), x[1], x[2], true)),
      {"batch_norm_running_var",
       [](const TensorList& x, const Kw&) {
         Tensor rm = x[1].clone(), rv = x[2].clone();
         batch_norm(x[0], rm, rv, Tensor(), Tensor(), true);
         return rv;
       }},
      OP("batch_norm_eval", batch_norm(x[0], x[3], x[4], x[1], x[2], false)),
      {"layer_norm",
       [](const TensorList& x, const Kw& kw) {
         int64_t k = kw.i("k");
         ANNEAL_CHECK(k <= x[0].dim(), ValueError, "layer_norm case: input has fewer than ", k, " dims");
         IntList ns(x[0].sizes().end() - k, x[0].sizes().end());
         return layer_norm(x[0], ns, x[1], x[2]);
       }},
      OP("group_norm", group_norm(x[0], kw.i("groups"), x[1], x[2])),
      OP("sdpa", scaled_dot_product_attention(x[0], x[1], x[2], Tensor(), kw.i("causal", 0))),
      OP("sdpa_mask", scaled_dot_product_attention(x[0], x[1], x[2], x[3])),
  };
  return table;
}

}  // namespace anneal::test
