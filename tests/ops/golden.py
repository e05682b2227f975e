#!/usr/bin/python3
"""Writes the golden cases every op test runs: inputs, PyTorch's outputs, and PyTorch's
gradients of sum(output * cotangent). This list is the single source of cases; the C++
side (op_table.cpp) maps each op name onto anneal's call.

usage: golden.py OUT_FILE
"""
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)

CASES = []


def inp(shape, dtype="float64", domain="any", nc=False, grad=None):
    """One input: domain is any | pos | unit | int:LO:HI | bool | distinct."""
    if grad is None:
        grad = dtype.startswith("float") and domain not in ("bool",) and not domain.startswith("int")
    return dict(shape=list(shape), dtype=dtype, domain=domain, nc=nc, grad=grad)


def case(op, *inputs, name=None, **kw):
    CASES.append(dict(name=name or op, op=op, inputs=list(inputs), kw=kw))


def kl(v):
    return [int(x) for x in str(v).split(",") if x != ""]


# ---- the op → PyTorch map (kwargs arrive as Python values) ----
def sdpa(q, k, v, mask=None, causal=0, **_):
    m = None
    if mask is not None:
        m = mask
    return F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=bool(causal)) if hasattr(F, "scaled_dot_product_attention") else manual_sdpa(q, k, v, m, bool(causal))


def manual_sdpa(q, k, v, mask, causal):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        L, S = q.shape[-2], k.shape[-2]
        s = s.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    elif mask is not None:
        s = s.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else s + mask
    return torch.softmax(s, -1) @ v


RED = {"mean": "mean", "sum": "sum", "none": "none"}

TORCH = {
    "neg": lambda x: -x, "abs": torch.abs, "exp": torch.exp, "expm1": torch.expm1, "log": torch.log,
    "log1p": torch.log1p, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal,
    "square": torch.square, "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "relu": torch.relu, "leaky_relu": lambda x, slope: F.leaky_relu(x, slope),
    "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu,
    "softplus": lambda x, beta, threshold: F.softplus(x, beta, threshold), "sign": torch.sign,
    "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "erf": torch.erf,
    "pow_scalar": lambda x, e: torch.pow(x, e), "clamp": lambda x, lo, hi: torch.clamp(x, lo, hi),
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "atan2": torch.atan2,
    "eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge,
    "logical_and": torch.logical_and, "logical_or": torch.logical_or,
    "where": lambda c, a, b: torch.where(c, a, b), "lerp": torch.lerp,
    "lerp_scalar": lambda a, b, w: torch.lerp(a, b, w),
    "masked_fill": lambda x, m, value: x.masked_fill(m, value),
    "add_scalar": lambda x, s: x + s, "mul_scalar": lambda x, s: x * s, "rsub_scalar": lambda x, s: s - x,
    "rdiv_scalar": lambda x, s: s / x, "div_scalar": lambda x, s: x / s,
    "sum": lambda x, dims="", keepdim=0: torch.sum(x, kl(dims), bool(keepdim)) if dims != "" else torch.sum(x),
    "mean": lambda x, dims="", keepdim=0: torch.mean(x, kl(dims), bool(keepdim)) if dims != "" else torch.mean(x),
    "prod": lambda x, dim=None, keepdim=0: torch.prod(x, dim, bool(keepdim)) if dim is not None else torch.prod(x),
    "amax": lambda x, dims, keepdim=0: torch.amax(x, kl(dims), bool(keepdim)),
    "amin": lambda x, dims, keepdim=0: torch.amin(x, kl(dims), bool(keepdim)),
    "max_all": torch.max, "min_all": torch.min,
    "max_dim_values": lambda x, dim, keepdim=0: torch.max(x, dim, bool(keepdim)).values,
    "max_dim_indices": lambda x, dim, keepdim=0: torch.max(x, dim, bool(keepdim)).indices,
    "min_dim_values": lambda x, dim, keepdim=0: torch.min(x, dim, bool(keepdim)).values,
    "argmax": lambda x, dim=None, keepdim=0: torch.argmax(x, dim, bool(keepdim)) if dim is not None else torch.argmax(x),
    "argmin": lambda x, dim=None, keepdim=0: torch.argmin(x, dim, bool(keepdim)) if dim is not None else torch.argmin(x),
    "var": lambda x, dims, unbiased=1, keepdim=0: torch.var(x, kl(dims), bool(unbiased), bool(keepdim)),
    "std": lambda x, dims, unbiased=1, keepdim=0: torch.std(x, kl(dims), bool(unbiased), bool(keepdim)),
    "logsumexp": lambda x, dims, keepdim=0: torch.logsumexp(x, kl(dims), bool(keepdim)),
    "norm": lambda x, p, dims="", keepdim=0: torch.linalg.vector_norm(x, p, kl(dims) if dims != "" else None, bool(keepdim)),
    "all": lambda x, dims="": torch.all(x) if dims == "" else torch.all(x, kl(dims)[0]),
    "any": lambda x, dims="": torch.any(x) if dims == "" else torch.any(x, kl(dims)[0]),
    "matmul": torch.matmul, "mm": torch.mm, "bmm": torch.bmm,
    "addmm": lambda c, a, b, beta=1, alpha=1: torch.addmm(c, a, b, beta=beta, alpha=alpha),
    "linear": F.linear, "linear_nobias": F.linear, "outer": torch.outer,
    "reshape": lambda x, shape: x.reshape(kl(shape)), "view": lambda x, shape: x.view(kl(shape)),
    "permute": lambda x, dims: x.permute(kl(dims)), "transpose": lambda x, d0, d1: x.transpose(d0, d1),
    "narrow": lambda x, dim, start, length: x.narrow(dim, start, length),
    "slice": lambda x, dim, start, end, step: x[(slice(None),) * dim + (slice(start, end, step),)],
    "select": lambda x, dim, index: x.select(dim, index), "expand": lambda x, shape: x.expand(kl(shape)),
    "squeeze": lambda x, dim=None: x.squeeze() if dim is None else x.squeeze(dim),
    "unsqueeze": lambda x, dim: x.unsqueeze(dim),
    "flatten": lambda x, start=0, end=-1: x.flatten(start, end),
    "cat": lambda *xs, dim=0: torch.cat(xs, dim), "stack": lambda *xs, dim=0: torch.stack(xs, dim),
    "split_part": lambda x, size, dim, part: torch.split(x, size, dim)[part],
    "chunk_part": lambda x, chunks, dim, part: torch.chunk(x, chunks, dim)[part],
    "index_select": lambda x, i, dim: torch.index_select(x, dim, i),
    "gather": lambda x, i, dim: torch.gather(x, dim, i),
    "scatter": lambda x, i, s, dim: torch.scatter(x, dim, i, s),
    "scatter_add": lambda x, i, s, dim: torch.scatter_add(x, dim, i, s),
    "index_add": lambda x, i, s, dim: torch.index_add(x, dim, i, s),
    "masked_select": lambda x, m: x[m], "index_int": lambda x, i: x[i],
    "pad": lambda x, pads, value=0.0: F.pad(x, kl(pads), value=value),
    "repeat": lambda x, reps: x.repeat(*kl(reps)), "tril": lambda x, k=0: torch.tril(x, k),
    "triu": lambda x, k=0: torch.triu(x, k), "one_hot": lambda i, n: F.one_hot(i, n),
    "embedding": lambda w, i: F.embedding(i, w),
    "as_strided": lambda x, size, stride, offset: torch.as_strided(x, kl(size), kl(stride), offset),
    "softmax": lambda x, dim: torch.softmax(x, dim), "log_softmax": lambda x, dim: torch.log_softmax(x, dim),
    "cross_entropy": lambda x, t, reduction="mean", ignore_index=-100, smoothing=0.0: F.cross_entropy(
        x, t, reduction=reduction, ignore_index=ignore_index, label_smoothing=smoothing),
    "cross_entropy_w": lambda x, t, w, reduction="mean", ignore_index=-100, smoothing=0.0: F.cross_entropy(
        x, t, weight=w, reduction=reduction, ignore_index=ignore_index, label_smoothing=smoothing),
    "nll_loss": lambda x, t, reduction="mean", ignore_index=-100: F.nll_loss(x, t, reduction=reduction,
                                                                            ignore_index=ignore_index),
    "mse_loss": lambda a, b, reduction="mean": F.mse_loss(a, b, reduction=reduction),
    "l1_loss": lambda a, b, reduction="mean": F.l1_loss(a, b, reduction=reduction),
    "smooth_l1_loss": lambda a, b, reduction="mean", beta=1.0: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
    "bce": lambda p, y, reduction="mean": F.binary_cross_entropy(p, y, reduction=reduction),
    "bce_logits": lambda x, y, reduction="mean": F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
    "bce_logits_w": lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw),
    "conv2d": lambda x, w, b, stride=1, padding=0, dilation=1, groups=1: F.conv2d(x, w, b, stride, padding, dilation, groups),
    "conv2d_nobias": lambda x, w, stride=1, padding=0, dilation=1, groups=1: F.conv2d(x, w, None, stride, padding, dilation, groups),
    "max_pool2d": lambda x, k, stride=0, padding=0, dilation=1: F.max_pool2d(x, k, stride or None, padding, dilation),
    "max_pool2d_indices": lambda x, k, stride=0, padding=0, dilation=1: F.max_pool2d(
        x, k, stride or None, padding, dilation, return_indices=True)[1],
    "avg_pool2d": lambda x, k, stride=0, padding=0, include_pad=1: F.avg_pool2d(
        x, k, stride or None, padding, count_include_pad=bool(include_pad)),
    "adaptive_avg_pool2d": lambda x, oh, ow: F.adaptive_avg_pool2d(x, (oh, ow)),
    "batch_norm_train": lambda x, w, b, rm, rv: F.batch_norm(x, rm.clone(), rv.clone(), w, b, True, 0.1, 1e-5),
    "batch_norm_running_var": lambda x, rm, rv: bn_running_var(x, rm, rv),
    "batch_norm_eval": lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5),
    "layer_norm": lambda x, w, b, k: F.layer_norm(x, x.shape[-k:], w, b, 1e-5),
    "group_norm": lambda x, w, b, groups: F.group_norm(x, groups, w, b, 1e-5),
    "sdpa": lambda q, k, v, causal=0: manual_sdpa(q, k, v, None, bool(causal)),
    "sdpa_mask": lambda q, k, v, m: manual_sdpa(q, k, v, m, False),
    "to_dtype": lambda x, dtype: x.to(getattr(torch, dtype)),
}


def bn_running_var(x, rm, rv):
    rm, rv = rm.clone(), rv.clone()
    F.batch_norm(x, rm, rv, None, None, True, 0.1, 1e-5)
    return rv


# ---- the cases ----
S = [3, 4]
for op in ["neg", "abs", "exp", "expm1", "sin", "cos", "tanh", "sigmoid", "relu", "gelu", "gelu_tanh", "silu",
           "square", "erf", "sign", "floor", "ceil", "round"]:
    case(op, inp(S))
for op in ["log", "log1p", "sqrt", "rsqrt", "reciprocal"]:
    case(op, inp(S, domain="pos"))
case("exp", inp([4, 3], nc=True), name="exp_noncontig")
case("tanh", inp([2, 3], dtype="float32"), name="tanh_f32")
case("sigmoid", inp([2, 3], dtype="float16", grad=False), name="sigmoid_f16")
case("gelu", inp([2, 3], dtype="bfloat16", grad=False), name="gelu_bf16")
case("exp", inp([0, 3]), name="exp_empty")
case("leaky_relu", inp(S), slope=0.1)
case("softplus", inp(S), beta=2.0, threshold=1.5)
case("pow_scalar", inp(S, domain="pos"), e=2.5)
case("pow_scalar", inp(S), e=3, name="pow_int_exponent")
case("pow_scalar", inp(S, dtype="int64", domain="int:-3:4"), e=2, name="pow_scalar_int")
case("clamp", inp(S), lo=-0.5, hi=0.5)
case("abs", inp(S, dtype="int32", domain="int:-5:5"), name="abs_int")
case("neg", inp(S, dtype="int64", domain="int:-5:5"), name="neg_int")

A, B = [3, 1, 4], [2, 4]
for op in ["add", "sub", "mul", "maximum", "minimum", "atan2"]:
    case(op, inp(A), inp(B, nc=True))
case("div", inp(A), inp(B, domain="pos"))
case("pow", inp(A, domain="pos"), inp(B))
case("add", inp([2, 3], dtype="float32"), inp([3], dtype="float64"), name="add_promote_f32_f64")
case("add", inp([2, 3], dtype="int32", domain="int:-5:5"), inp([2, 3], dtype="float32"), name="add_promote_int_float")
case("mul", inp([2, 3], dtype="int64", domain="int:-5:5"), inp([2, 3], dtype="int32", domain="int:-5:5"), name="mul_int")
case("div", inp([2, 3], dtype="int64", domain="int:-5:5"), inp([2, 3], dtype="int64", domain="int:1:4"), name="div_int_true")
case("add", inp([2, 3], dtype="float16", grad=False), inp([2, 3], dtype="float16", grad=False), name="add_f16")
case("mul", inp([2, 3], dtype="bfloat16", grad=False), inp([3], dtype="bfloat16", grad=False), name="mul_bf16")
case("add", inp([2, 3], dtype="float32"), inp([], dtype="float64"), name="add_zero_dim_lower_priority")
case("add", inp([2, 3], dtype="int32", domain="int:-5:5"), inp([], dtype="float64"), name="add_zero_dim_category")
case("add", inp([2, 3], dtype="bool", domain="bool"), inp([2, 3], dtype="bool", domain="bool"), name="add_bool")
for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
    case(op, inp(A, domain="int:0:3", dtype="float64"), inp(B, domain="int:0:3", dtype="float64"))
case("lt", inp([2, 3], dtype="int32", domain="int:-3:3"), inp([2, 3], dtype="float32"), name="lt_mixed")
case("logical_and", inp(A, dtype="bool", domain="bool"), inp(B, dtype="bool", domain="bool"))
case("logical_or", inp(A, dtype="bool", domain="bool"), inp(B, dtype="bool", domain="bool"))
case("where", inp(A, dtype="bool", domain="bool"), inp(A), inp(B))
case("lerp", inp(S), inp(S), inp(S))
case("lerp_scalar", inp(S), inp(S), w=0.3)
case("masked_fill", inp(S), inp([4], dtype="bool", domain="bool"), value=-2.5)
case("add_scalar", inp(S), s=2.5)
case("add_scalar", inp(S, dtype="int64", domain="int:-5:5"), s=2.5, name="add_scalar_int_tensor_float_scalar")
case("add_scalar", inp(S, dtype="float16", grad=False), s=2.5, name="add_scalar_f16_stays_f16")
case("add_scalar", inp(S, dtype="int32", domain="int:-5:5"), s=3, name="add_scalar_int32_stays_int32")
case("mul_scalar", inp(S), s=-1.5)
case("rsub_scalar", inp(S), s=2.0)
case("rdiv_scalar", inp(S, domain="pos"), s=2.0)
case("div_scalar", inp(S), s=4.0)

R = [2, 3, 4]
case("sum", inp(R))
case("sum", inp(R, nc=True), dims="0,2", keepdim=1, name="sum_dims_keepdim_noncontig")
case("sum", inp(R), dims="1", name="sum_dim1")
case("sum", inp(R, dtype="int32", domain="int:-5:5"), name="sum_int_to_int64")
case("sum", inp([0, 3]), dims="0", name="sum_empty")
case("mean", inp(R))
case("mean", inp(R), dims="-1", keepdim=1, name="mean_last")
case("prod", inp(R, domain="unit"), dim=1)
case("prod", inp([5], domain="unit"), name="prod_all")
case("amax", inp(R), dims="0,2")
case("amin", inp(R), dims="1", keepdim=1)
case("max_all", inp(R))
case("min_all", inp(R))
case("max_dim_values", inp(R), dim=1)
case("max_dim_indices", inp(R), dim=1)
case("min_dim_values", inp(R), dim=-1, keepdim=1)
case("argmax", inp(R), dim=2)
case("argmax", inp(R), name="argmax_all")
case("argmin", inp(R), dim=0, keepdim=1)
case("var", inp(R), dims="1")
case("var", inp(R), dims="0,2", unbiased=0, keepdim=1, name="var_biased")
case("std", inp(R), dims="2")
case("logsumexp", inp(R), dims="1")
case("norm", inp(R), p=2.0)
case("norm", inp(R), p=1.0, dims="1", name="norm_p1")
case("norm", inp(R), p=3.0, dims="2", keepdim=1, name="norm_p3")
case("norm", inp(R), p=float("inf"), dims="0", name="norm_inf")
case("all", inp(R, dtype="bool", domain="bool"))
case("any", inp(R, dtype="bool", domain="bool"), dims="1")

case("matmul", inp([3, 4]), inp([4, 5]))
case("matmul", inp([2, 3, 4], nc=True), inp([4, 5]), name="matmul_batched_2d")
case("matmul", inp([4]), inp([4, 5]), name="matmul_vec_mat")
case("matmul", inp([3, 4]), inp([4]), name="matmul_mat_vec")
case("matmul", inp([4]), inp([4]), name="matmul_dot")
case("matmul", inp([2, 1, 3, 4]), inp([3, 4, 2]), name="matmul_broadcast_batch")
case("matmul", inp([3, 4], dtype="float32"), inp([4, 5], dtype="float32"), name="matmul_f32")
case("matmul", inp([3, 4], dtype="int64", domain="int:-3:3"), inp([4, 2], dtype="int64", domain="int:-3:3"), name="matmul_int")
case("matmul", inp([3, 4], dtype="bfloat16", grad=False), inp([4, 5], dtype="bfloat16", grad=False), name="matmul_bf16")
case("mm", inp([3, 4], nc=True), inp([4, 2], nc=True))
case("bmm", inp([2, 3, 4]), inp([2, 4, 5]))
case("addmm", inp([3, 5]), inp([3, 4]), inp([4, 5]), beta=0.5, alpha=2.0)
case("linear", inp([2, 3, 4]), inp([5, 4]), inp([5]))
case("linear_nobias", inp([6, 4]), inp([5, 4]))
case("outer", inp([3]), inp([4]))

X = [2, 3, 4]
case("reshape", inp(X, nc=True), shape="4,-1")
case("view", inp(X), shape="6,4")
case("permute", inp(X), dims="2,0,1")
case("transpose", inp(X), d0=0, d1=2)
case("narrow", inp(X), dim=2, start=1, length=2)
case("slice", inp([5, 6]), dim=1, start=1, end=6, step=2)
case("slice", inp([5, 6]), dim=0, start=-3, end=100, step=1, name="slice_negative_start")
case("select", inp(X), dim=1, index=-1)
case("expand", inp([3, 1]), shape="2,3,4")
case("squeeze", inp([3, 1, 4, 1]))
case("squeeze", inp([3, 1, 4]), dim=1, name="squeeze_dim")
case("unsqueeze", inp([3, 4]), dim=-1)
case("flatten", inp([2, 3, 4, 5]), start=1, end=2)
case("cat", inp([2, 3]), inp([4, 3]), inp([1, 3], nc=False), dim=0)
case("cat", inp([2, 3]), inp([2, 1]), dim=1, name="cat_dim1")
case("cat", inp([2, 3], dtype="float32"), inp([2, 3], dtype="float64"), dim=0, name="cat_promote")
case("stack", inp([2, 3]), inp([2, 3], nc=True), dim=1)
case("split_part", inp([7, 2]), size=3, dim=0, part=2)
case("chunk_part", inp([2, 7]), chunks=3, dim=1, part=1)
case("index_select", inp([5, 3]), inp([4], dtype="int64", domain="int:0:5"), dim=0)
case("index_select", inp([3, 5]), inp([6], dtype="int64", domain="int:0:5"), dim=1, name="index_select_dim1_repeats")
case("gather", inp([3, 4]), inp([3, 2], dtype="int64", domain="int:0:4"), dim=1)
case("scatter", inp([3, 5]), inp([3, 2], dtype="int64", domain="distinct:5"), inp([3, 2]), dim=1)
case("scatter_add", inp([3, 5]), inp([3, 4], dtype="int64", domain="int:0:5"), inp([3, 4]), dim=1)
case("index_add", inp([5, 3]), inp([4], dtype="int64", domain="int:0:5"), inp([4, 3]), dim=0)
case("masked_select", inp([3, 4]), inp([3, 4], dtype="bool", domain="bool"))
case("masked_select", inp([3, 4]), inp([3], dtype="bool", domain="bool"), name="masked_select_rows")
case("index_int", inp([5, 3]), inp([2, 2], dtype="int64", domain="int:0:5"))
case("pad", inp([2, 3, 4]), pads="1,2,0,1", value=0.5)
case("pad", inp([2, 3, 4]), pads="-1,1", name="pad_negative")
case("repeat", inp([2, 3]), reps="2,1,2")
case("tril", inp([4, 5]), k=0)
case("triu", inp([2, 4, 4]), k=1)
case("one_hot", inp([5], dtype="int64", domain="int:0:4"), n=4)
case("embedding", inp([6, 3]), inp([2, 4], dtype="int64", domain="int:0:6"))
case("as_strided", inp([12]), size="3,3", stride="2,1", offset=1)
case("to_dtype", inp([2, 3], dtype="float64"), dtype="float32")
case("to_dtype", inp([2, 3], dtype="float32", domain="any"), dtype="int32", name="to_int_truncates")
case("to_dtype", inp([2, 3], dtype="float32"), dtype="float16", name="to_f16")
case("to_dtype", inp([2, 3], dtype="float32"), dtype="bfloat16", name="to_bf16")

case("softmax", inp([3, 5]), dim=1)
case("softmax", inp([3, 5, 2], nc=True), dim=0, name="softmax_dim0")
case("log_softmax", inp([3, 5]), dim=-1)
case("softmax", inp([2, 5], dtype="float32"), dim=1, name="softmax_f32")
case("cross_entropy", inp([4, 5]), inp([4], dtype="int64", domain="int:0:5"))
case("cross_entropy", inp([4, 5]), inp([4], dtype="int64", domain="int:0:5"), reduction="sum", name="cross_entropy_sum")
case("cross_entropy", inp([4, 5]), inp([4], dtype="int64", domain="int:0:5"), reduction="none", name="cross_entropy_none")
case("cross_entropy", inp([4, 5]), inp([4], dtype="int64", domain="int:0:5"), ignore_index=2, name="cross_entropy_ignore")
case("cross_entropy", inp([4, 5]), inp([4], dtype="int64", domain="int:0:5"), smoothing=0.1, name="cross_entropy_smooth")
case("cross_entropy_w", inp([4, 5]), inp([4], dtype="int64", domain="int:0:5"), inp([5], domain="pos", grad=False),
     smoothing=0.2, ignore_index=1)
case("cross_entropy", inp([2, 3, 2, 2]), inp([2, 2, 2], dtype="int64", domain="int:0:3"), name="cross_entropy_kdim")
case("cross_entropy", inp([4, 5]), inp([4, 5], domain="unit", grad=False), name="cross_entropy_probs")
case("cross_entropy", inp([4, 5]), inp([4, 5], domain="unit", grad=False), smoothing=0.1, name="cross_entropy_probs_smooth")
case("nll_loss", inp([4, 5]), inp([4], dtype="int64", domain="int:0:5"))
case("mse_loss", inp([3, 4]), inp([3, 4]))
case("l1_loss", inp([3, 4]), inp([3, 4]), reduction="sum")
case("smooth_l1_loss", inp([3, 4]), inp([3, 4]), beta=0.5)
case("bce", inp([3, 4], domain="prob"), inp([3, 4], domain="unit", grad=False))
case("bce_logits", inp([3, 4]), inp([3, 4], domain="unit"))
case("bce_logits_w", inp([3, 4]), inp([3, 4], domain="unit", grad=False), inp([4], domain="pos", grad=False),
     inp([4], domain="pos", grad=False))
case("conv2d", inp([2, 3, 5, 5]), inp([4, 3, 3, 3]), inp([4]))
case("conv2d", inp([1, 4, 6, 5]), inp([6, 2, 3, 2]), inp([6]), stride=2, padding=1, dilation=1, groups=2, name="conv2d_groups_stride_pad")
case("conv2d_nobias", inp([1, 2, 7, 7]), inp([3, 2, 3, 3]), dilation=2, padding=2)
case("conv2d", inp([2, 1, 6, 6]), inp([12, 1, 3, 3]), inp([12]), padding=1, name="conv2d_few_weights_per_filter")
case("conv2d", inp([2, 4, 5, 5]), inp([20, 2, 2, 2]), inp([20]), groups=2, name="conv2d_few_weights_groups")
case("conv2d", inp([3, 1, 8, 8], dtype="float32"), inp([16, 1, 3, 3], dtype="float32"), inp([16], dtype="float32"), padding=1, name="conv2d_f32_one_channel")
case("max_pool2d", inp([2, 2, 6, 6], domain="distinct"), k=2)
case("max_pool2d", inp([1, 2, 5, 5], domain="distinct"), k=3, stride=2, padding=1, name="max_pool2d_pad")
case("max_pool2d_indices", inp([1, 2, 5, 5], domain="distinct"), k=3, stride=2, padding=1)
case("max_pool2d", inp([2, 3, 7, 7], dtype="float32", domain="distinct"), k=2, name="max_pool2d_f32")
case("max_pool2d_indices", inp([2, 3, 6, 7], dtype="float32", domain="distinct"), k=2, name="max_pool2d_indices_f32")
case("avg_pool2d", inp([2, 2, 6, 6]), k=2)
case("avg_pool2d", inp([1, 2, 5, 5]), k=3, stride=2, padding=1, include_pad=0, name="avg_pool2d_exclude_pad")
case("adaptive_avg_pool2d", inp([1, 2, 7, 5]), oh=3, ow=2)
case("adaptive_avg_pool2d", inp([2, 3, 4, 4]), oh=1, ow=1, name="global_avg_pool")
case("batch_norm_train", inp([4, 3, 2, 2]), inp([3]), inp([3]), inp([3], grad=False), inp([3], domain="pos", grad=False))
case("batch_norm_running_var", inp([4, 3, 2]), inp([3], grad=False), inp([3], domain="pos", grad=False))
case("batch_norm_eval", inp([4, 3, 2, 2]), inp([3]), inp([3]), inp([3], grad=False), inp([3], domain="pos", grad=False))
case("layer_norm", inp([2, 3, 4]), inp([3, 4]), inp([3, 4]), k=2)
case("group_norm", inp([2, 4, 3]), inp([4]), inp([4]), groups=2)
case("sdpa", inp([2, 3, 4]), inp([2, 5, 4]), inp([2, 5, 3]))
case("sdpa", inp([2, 4, 4]), inp([2, 4, 4]), inp([2, 4, 3]), causal=1, name="sdpa_causal")
case("sdpa", inp([2, 3, 4]), inp([2, 5, 4]), inp([2, 5, 3]), causal=1, name="sdpa_causal_rect")
case("sdpa", inp([2, 2, 6, 8], dtype="float32"), inp([2, 2, 6, 8], dtype="float32"), inp([2, 2, 6, 8], dtype="float32"), causal=1, name="sdpa_causal_f32")
case("sdpa_mask", inp([2, 3, 4]), inp([2, 5, 4]), inp([2, 5, 3]), inp([3, 5], dtype="bool", domain="mask"))


# ---- generation ----
TDT = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
       "int64": torch.int64, "int32": torch.int32, "uint8": torch.uint8, "bool": torch.bool}


def make_values(rng, spec):
    shape, dom = spec["shape"], spec["domain"]
    n = int(np.prod(shape)) if shape else 1
    if dom == "pos":
        v = rng.uniform(0.5, 2.0, n)
    elif dom == "unit":
        v = rng.uniform(0.05, 0.95, n)
    elif dom == "prob":
        v = rng.uniform(0.1, 0.9, n)
    elif dom == "bool":
        v = rng.randint(0, 2, n).astype(np.float64)
    elif dom == "mask":  # a bool mask with at least one True per row
        m = rng.randint(0, 2, shape)
        m[..., 0] = 1
        v = m.reshape(-1).astype(np.float64)
    elif dom.startswith("int:"):
        _, lo, hi = dom.split(":")
        v = rng.randint(int(lo), int(hi), n).astype(np.float64)
    elif dom.startswith("distinct:"):  # per-row distinct indices (scatter without collisions)
        hi = int(dom.split(":")[1])
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        v = np.concatenate([rng.permutation(hi)[: shape[-1]] for _ in range(rows)]).astype(np.float64)
    elif dom == "distinct":
        v = rng.permutation(n).astype(np.float64) / n * 4 - 2
    else:
        v = rng.uniform(-2.0, 2.0, n)
        # keep away from the kinks of abs/relu/round/floor, where gradients are undefined
        v = np.where(np.abs(v - np.round(v * 2) / 2) < 0.05, v + 0.11, v)
    return v.reshape(shape)


def fmt(vals):
    return " ".join(repr(float(x)) for x in np.asarray(vals, dtype=np.float64).reshape(-1))


def tensor_line(tag, t, extra=""):
    shape = list(t.shape)
    head = f"{tag} {str(t.dtype).replace('torch.', '')}{extra} {len(shape)} {' '.join(map(str, shape))}"
    return head.rstrip() + " " + fmt(t.detach().to(torch.float64).numpy()) if t.numel() else head.rstrip()


def main(out_path):
    lines = []
    for ci, c in enumerate(CASES):
        rng = np.random.RandomState(1000 + ci)
        ins = []
        for spec in c["inputs"]:
            vals = make_values(rng, spec)
            t = torch.tensor(vals, dtype=torch.float64).to(TDT[spec["dtype"]])
            if spec["grad"]:
                t.requires_grad_(True)
            ins.append((spec, t))
        try:
            out = TORCH[c["op"]](*[t for _, t in ins], **c["kw"])
        except RuntimeError as e:  # PyTorch 1.13's CPU lacks some float16 kernels: compute in float32
            if "Half" not in str(e):
                raise
            out = TORCH[c["op"]](*[t.float() for _, t in ins], **c["kw"]).half()
        lines.append(f"case {c['name']} {c['op']} {len(ins)}")
        for k, v in c["kw"].items():
            lines.append(f"kw {k} {v}")
        for spec, t in ins:
            lines.append(tensor_line("input", t, f" {int(spec['nc'])} {int(spec['grad'])}"))
        lines.append(tensor_line("output", out))
        if any(spec["grad"] for spec, _ in ins) and out.requires_grad:
            cot = torch.tensor(rng.uniform(-1, 1, list(out.shape)), dtype=torch.float64).to(out.dtype)
            lines.append(tensor_line("cotangent", cot))
            grads = torch.autograd.grad(out, [t for spec, t in ins if spec["grad"]], cot, allow_unused=True)
            gi = iter(grads)
            for i, (spec, t) in enumerate(ins):
                if spec["grad"]:
                    g = next(gi)
                    if g is None:
                        g = torch.zeros_like(t)
                    lines.append(tensor_line(f"grad{i}", g))
        lines.append("end")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(CASES)} cases to {out_path}")


if __name__ == "__main__":
    main(sys.argv[1])
