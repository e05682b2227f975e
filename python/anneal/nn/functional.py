"""anneal.nn.functional with torch.nn.functional's signatures: the core's kernels
(anneal._C.functional) behind PyTorch's argument forms (tuples, padding="same", inplace=,
legacy size_average/reduce, class weights, ignore_index, ...), and the functions PyTorch
programs use that are compositions of core ops (conv1d, conv_transpose2d, interpolate,
dropout2d, elu, normalize, kl_div, ...)."""
import builtins
import math
import numbers
import warnings

import numpy as np

import anneal
from anneal import _C
from anneal._C import Tensor
from anneal._C.functional import *  # noqa: F401,F403

_F = _C.functional


def _pair(v, name="argument"):
    if isinstance(v, numbers.Integral):
        return (int(v), int(v))
    v = tuple(int(x) for x in v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
    return v


def _single(v):
    if isinstance(v, numbers.Integral):
        return int(v)
    v = tuple(v)
    if len(v) != 1:
        raise ValueError(f"expected one int, got {v}")
    return int(v[0])


def _reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction instead.", UserWarning)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _reduce(loss, reduction, weight_sum=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / weight_sum if weight_sum is not None else loss.mean()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _inplace_result(input, out, inplace):
    if inplace:
        input.copy_(out)
        return input
    return out


# ------------------------------------------------------------ activations
def relu(input, inplace=False):
    return _inplace_result(input, _F.relu(input), inplace)


def relu_(input):
    return relu(input, True)


def relu6(input, inplace=False):
    return _inplace_result(input, _C.clamp(input, min=0.0, max=6.0), inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return _inplace_result(input, _C.clamp(input, min=min_val, max=max_val), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _inplace_result(input, _F.leaky_relu(input, negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    return _inplace_result(input, _C.where(input > 0, input, _C.expm1(_C.minimum(input, _C.zeros_like(input))) * alpha),
                           inplace)


def selu(input, inplace=False):
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return _inplace_result(input, elu(input, alpha) * scale, inplace)


def celu(input, alpha=1.0, inplace=False):
    neg = _C.expm1(_C.minimum(input, _C.zeros_like(input)) / alpha) * alpha
    return _inplace_result(input, _C.where(input > 0, input, neg), inplace)


def prelu(input, weight):
    w = weight.reshape(1, -1, *([1] * (input.dim() - 2))) if weight.numel() > 1 and input.dim() > 1 else weight
    return _C.where(input > 0, input, input * w)


def gelu(input, approximate="none"):
    return _F.gelu(input, approximate)


def silu(input, inplace=False):
    return _inplace_result(input, _F.silu(input), inplace)


def mish(input, inplace=False):
    return _inplace_result(input, input * _C.tanh(_F.softplus(input)), inplace)


def hardsigmoid(input, inplace=False):
    return _inplace_result(input, _C.clamp(input / 6.0 + 0.5, min=0.0, max=1.0), inplace)


def hardswish(input, inplace=False):
    return _inplace_result(input, input * hardsigmoid(input), inplace)


def sigmoid(input):
    return _C.sigmoid(input)


def tanh(input):
    return _C.tanh(input)


def logsigmoid(input):
    return -_F.softplus(-input)


def softplus(input, beta=1.0, threshold=20.0):
    return _F.softplus(input, beta, threshold)


def softsign(input):
    return input / (input.abs() + 1)


def tanhshrink(input):
    return input - _C.tanh(input)


def threshold(input, threshold, value, inplace=False):
    return _inplace_result(input, _C.where(input > threshold, input, _C.full_like(input, value)), inplace)


def glu(input, dim=-1):
    a, b = _C.chunk(input, 2, dim)
    return a * _C.sigmoid(b)


def _softmax_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        warnings.warn("Implicit dimension choice for softmax has been deprecated.", UserWarning)
        dim = _softmax_dim(input.dim())
    x = input if dtype is None else input.to(dtype)
    return _F.softmax(x, dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim(input.dim())
    x = input if dtype is None else input.to(dtype)
    return _F.log_softmax(x, dim)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return softmax(-input, dim, dtype=dtype)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    n = _C.norm(input, p, dim, True) if p != 2.0 else _C.sqrt((input * input).sum(dim, True))
    return input / _C.clamp(n, min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    dot = (x1 * x2).sum(dim)
    n1 = _C.sqrt((x1 * x1).sum(dim))
    n2 = _C.sqrt((x2 * x2).sum(dim))
    return dot / _C.clamp(n1 * n2, min=eps)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    d = x1 - x2 + eps
    return _C.pow(_C.pow(d.abs(), p).sum(-1, keepdim), 1.0 / p)


# ------------------------------------------------------------ linear, dropout, embedding
linear = _F.linear  # (the core's signature is PyTorch's)


def bilinear(input1, input2, weight, bias=None):
    out = anneal.einsum("bi,oij->boj", input1, weight)
    out = (out * input2.unsqueeze(1)).sum(-1)
    return out + bias if bias is not None else out


def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return _inplace_result(input, _F.dropout(input, p, training), inplace)


def _channel_dropout(input, p, training, inplace):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _inplace_result(input, input * 0.0, inplace)
    shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2) if input.dim() > 2 else (input.shape[0], 1)
    keep = (_C.rand(*shape, dtype=input.dtype if input.is_floating_point() else _C.float32) >= p).to(input.dtype)
    return _inplace_result(input, input * keep / (1.0 - p), inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    if not training or p == 0:
        return input
    raise NotImplementedError("alpha_dropout in training mode is not supported yet")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if max_norm is not None:
        with anneal.no_grad():
            rows = _C.index_select(weight, 0, input.reshape(-1))
            norms = _C.sqrt((rows * rows).sum(1, True)) if norm_type == 2.0 else _C.norm(rows, norm_type, 1, True)
            scale = _C.clamp(max_norm / (norms + 1e-7), max=1.0)
            weight.index_add_(0, input.reshape(-1), rows * scale - rows)
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not supported yet")
    if padding_idx is not None:
        n = weight.shape[0]
        if padding_idx < 0:
            padding_idx += n
        # the padding row's value, without a gradient into it (as PyTorch)
        mask = _C.ones(n, 1, dtype=weight.dtype)
        mask[padding_idx] = 0.0
        weight = weight * mask + weight.detach() * (1 - mask)
    return _F.embedding(input, weight)


def one_hot(tensor, num_classes=-1):
    return _F.one_hot(tensor, num_classes)


# ------------------------------------------------------------ convolution and pooling
def _conv_padding(padding, kernel, dilation, stride, name):
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' is not supported for strided convolutions ({name})")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return (total[1] // 2, total[1] - total[1] // 2, total[0] // 2, total[0] - total[0] // 2)
        raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
    ph, pw = _pair(padding, "padding")
    return (pw, pw, ph, ph)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    kernel = tuple(weight.shape[2:])
    left, right, top, bottom = _conv_padding(padding, kernel, dilation, stride, "conv2d")
    if stride[0] != stride[1] or dilation[0] != dilation[1]:
        raise NotImplementedError(f"conv2d: different strides or dilations per dim ({stride}, {dilation}) are not "
                                  "supported yet")
    if left == right == top == bottom:
        return _F.conv2d(input, weight, bias, stride[0], left, dilation[0], groups)
    return _F.conv2d(_F.pad(input, (left, right, top, bottom)), weight, bias, stride[0], 0, dilation[0], groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A convolution of a height-1 image with a height-1 kernel: padding goes on the length
    only, and a square stride or dilation does nothing to a height of 1."""
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(0)
    k, s, d = weight.shape[-1], _single(stride), _single(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            left = right = 0
        elif padding == "same":
            if s != 1:
                raise ValueError("padding='same' is not supported for strided convolutions")
            left = d * (k - 1) // 2
            right = d * (k - 1) - left
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
    else:
        left = right = _single(padding)
    xp = _F.pad(x, (left, right)) if left or right else x
    out = _F.conv2d(xp.unsqueeze(2), weight.unsqueeze(2), bias, s, 0, d, groups).squeeze(2)
    return out if batched else out.squeeze(0)


def _dilate(x, stride):
    """Inserts stride-1 zeros between the pixels of the last two dims."""
    sh, sw = stride
    if sh == 1 and sw == 1:
        return x
    n, c, h, w = x.shape
    out = _C.zeros(n, c, (h - 1) * sh + 1, (w - 1) * sw + 1, dtype=x.dtype, device=str(x.device))
    rows = np.arange(h) * sh
    cols = np.arange(w) * sw
    pos = (rows[:, None] * out.shape[3] + cols[None, :]).reshape(-1)
    idx = _C.from_numpy(np.ascontiguousarray(pos, dtype=np.int64))
    flat = out.reshape(n, c, -1)
    flat = _C.index_add(flat, 2, idx, x.reshape(n, c, -1))
    return flat.reshape(*out.shape)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The gradient of conv2d with respect to its input, as a convolution: the input
    dilated by the stride, padded by dilation*(k-1)-padding (cropped where that is
    negative), convolved with the flipped, transposed kernel of each group."""
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    output_padding, dilation = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    if dilation[0] != dilation[1]:
        raise NotImplementedError("conv_transpose2d: different dilations per dim are not supported yet")
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    if groups < 1 or weight.shape[0] % groups or x.shape[1] != weight.shape[0]:
        raise RuntimeError(f"conv_transpose2d: weight {tuple(weight.shape)} (in_channels first) does not fit input "
                           f"{tuple(x.shape)} with groups={groups}")
    for op_, s_, d_ in zip(output_padding, stride, dilation):
        if op_ >= s_ and op_ >= d_:
            raise RuntimeError("conv_transpose2d: output padding must be smaller than either stride or dilation, but "
                               f"got output_padding={output_padding}, stride={stride}, dilation={dilation}")
    cin, cout_g, kh, kw = weight.shape
    # [Cin, Cout/g, kh, kw] -> per group transposed and flipped: [Cout, Cin/g, kh, kw]
    w = anneal.flip(weight, [2, 3]).reshape(groups, cin // groups, cout_g, kh, kw).transpose(1, 2)
    w = w.reshape(groups * cout_g, cin // groups, kh, kw)
    xd = _dilate(x, stride)
    pads = [dilation[1] * (kw - 1) - padding[1], dilation[1] * (kw - 1) - padding[1] + output_padding[1],
            dilation[0] * (kh - 1) - padding[0], dilation[0] * (kh - 1) - padding[0] + output_padding[0]]
    if any(pads):
        xd = _F.pad(xd, tuple(max(0, q) for q in pads))
    out = _F.conv2d(xd, w, bias, 1, 0, dilation[0], groups)
    left, right, top, bottom = (max(0, -q) for q in pads)  # padding beyond the kernel's reach crops the output
    if left or right or top or bottom:
        out = out[..., top:out.shape[-2] - bottom, left:out.shape[-1] - right]
    return out if batched else out.squeeze(0)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(0)
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, _single(stride)), (0, _single(padding)),
                           (0, _single(output_padding)), groups, (1, _single(dilation)))
    out = out.squeeze(2)
    return out if batched else out.squeeze(0)


def _pool_args(kernel_size, stride, padding, name):
    """(kh, kw), (sh, sw), (ph, pw): PyTorch's int-or-pair forms; stride defaults to the kernel."""
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else _pair(stride)
    p = _pair(padding, "padding")
    return k, s, p


def _pool_out(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length: with ceil_mode the last window may overhang, but it
    must start inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    n = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1
    return n


def _window_taps(input, k, s, p, d, ceil_mode, fill, name):
    """The pooling windows of a 4-d input as kh·kw strided views [N, C, OH, OW] (one per tap)
    of the input padded with `fill`, and the output size: the general path of pooling with
    per-dim kernel sizes, strides, paddings or dilations, written with ops (so gradients
    are the core's)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = k, s, p, d
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"{name}: kernel_size, stride and dilation must be positive and padding non-negative, got "
                         f"{k}, {s}, {p}, {d}")
    if ph > (dh * (kh - 1) + 1) // 2 or pw > (dw * (kw - 1) + 1) // 2:
        raise RuntimeError(f"{name}: pad should be at most half of effective kernel size, but got pad={p}, "
                           f"kernel_size={k} and dilation={d}")
    H, W = input.shape[-2], input.shape[-1]
    OH, OW = _pool_out(H, kh, sh, ph, dh, ceil_mode), _pool_out(W, kw, sw, pw, dw, ceil_mode)
    if OH < 1 or OW < 1:
        raise RuntimeError(f"{name}: the output size ({OH}x{OW}) is too small for input {tuple(input.shape)}")
    extra_h = max(0, (OH - 1) * sh + dh * (kh - 1) + 1 - (H + 2 * ph))
    extra_w = max(0, (OW - 1) * sw + dw * (kw - 1) + 1 - (W + 2 * pw))
    x = input
    if ph or pw or extra_h or extra_w:
        x = _F.pad(input, (pw, pw + extra_w, ph, ph + extra_h), fill)
    taps = [x[..., ki * dh: ki * dh + (OH - 1) * sh + 1: sh, kj * dw: kj * dw + (OW - 1) * sw + 1: sw]
            for ki in range(kh) for kj in range(kw)]
    return taps, OH, OW


def _simple_pool(k, s, p, d=(1, 1)):
    return k[0] == k[1] and s[0] == s[1] and p[0] == p[1] and d[0] == d[1]


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    k, s, p = _pool_args(kernel_size, stride, padding, "max_pool2d")
    d = _pair(dilation, "dilation")
    # (ceil_mode too: padding the end and pooling would count indices in the padded plane)
    if (ceil_mode or not _simple_pool(k, s, p, d)) and input.dim() in (3, 4):
        return _max_pool2d_general(input, k, s, p, d, ceil_mode, return_indices)
    k, s, p = k[0], s[0], p[0]
    if return_indices or d != (1, 1):
        out, idx = _F.max_pool2d_with_indices(input, k, s, p, d[0])
        return (out, idx) if return_indices else out
    return _F.max_pool2d(input, k, s, p)


def _max_pool2d_general(input, k, s, p, d, ceil_mode, return_indices):
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    taps, OH, OW = _window_taps(x, k, s, p, d, ceil_mode, -math.inf, "max_pool2d")
    values, tap = _C.stack(taps, 2).max(2)
    if not return_indices:
        return values if batched else values.squeeze(0)
    # flat positions in the H x W plane: the window's origin plus the winning tap's offset
    W = x.shape[-1]
    dev = str(x.device)
    ki, kj = tap // k[1], tap % k[1]
    rows = (anneal.arange(OH, dtype=anneal.int64, device=dev) * s[0] - p[0]).reshape(OH, 1)
    cols = (anneal.arange(OW, dtype=anneal.int64, device=dev) * s[1] - p[1]).reshape(1, OW)
    idx = (rows + ki * d[0]) * W + cols + kj * d[1]
    return (values, idx) if batched else (values.squeeze(0), idx.squeeze(0))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k, s, p = _pool_args(kernel_size, stride, padding, "avg_pool2d")
    if divisor_override is not None and divisor_override <= 0:
        raise RuntimeError("avg_pool2d: divisor must be not zero")
    simple = _simple_pool(k, s, p) and not ceil_mode and divisor_override is None and (p[0] == 0 or count_include_pad)
    if simple or input.dim() not in (3, 4):
        return _F.avg_pool2d(input, k[0], s[0], p[0])
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    taps, OH, OW = _window_taps(x, k, s, p, (1, 1), ceil_mode, 0.0, "avg_pool2d")
    total = taps[0]
    for t in taps[1:]:
        total = total + t
    if divisor_override is not None:
        out = total / float(divisor_override)
    else:
        # each window's divisor, PyTorch's rule: the padded extent it covers (clipped at the
        # padding's end), or with count_include_pad=False only the input it covers
        def counts(size, n, kk, ss, pp):
            out = []
            for o in range(n):
                start = o * ss - pp
                end = min(start + kk, size + pp)
                out.append(float(end - start) if count_include_pad else float(min(end, size) - max(start, 0)))
            return out
        ch = counts(x.shape[-2], OH, k[0], s[0], p[0])
        cw = counts(x.shape[-1], OW, k[1], s[1], p[1])
        div = _C.tensor([[a * b for b in cw] for a in ch], dtype=x.dtype).to(str(x.device))
        out = total / div
    return out if batched else out.squeeze(0)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    k = _single(kernel_size)
    s = k if stride is None else _single(stride)
    x = input.unsqueeze(-2)
    xp = _F.pad(x, (_single(padding), _single(padding)), -math.inf) if _single(padding) else x
    cols = _F.unfold(xp, (1, k), 1, 0, 1)  # (N, C*k, L_out) at stride 1
    n = input.shape[0] if input.dim() == 3 else 1
    c = input.shape[-2]
    cols = cols.reshape(n, c, k, -1)[..., ::s] if s > 1 else cols.reshape(n, c, k, -1)
    out = cols.max(2).values
    return out if input.dim() == 3 else out.squeeze(0)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    k = _single(kernel_size)
    s = k if stride is None else _single(stride)
    x = input.unsqueeze(-2)
    pad = _single(padding)
    if pad:
        x = _F.pad(x, (pad, pad))
    n = input.shape[0] if input.dim() == 3 else 1
    c = input.shape[-2]
    cols = _F.unfold(x, (1, k), 1, 0, 1).reshape(n, c, k, -1)
    out = cols.mean(2)
    out = out[..., ::s] if s > 1 else out
    return out if input.dim() == 3 else out.squeeze(0)


def adaptive_avg_pool2d(input, output_size):
    if isinstance(output_size, (tuple, list)) and None in output_size:  # None keeps that input size
        output_size = tuple(input.shape[-len(output_size) + i] if v is None else v for i, v in enumerate(output_size))
    return _F.adaptive_avg_pool2d(input, output_size)


def adaptive_avg_pool1d(input, output_size):
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, _single(output_size))).squeeze(-2)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    oh, ow = _pair(output_size)
    h, w = input.shape[-2:]
    if h % oh or w % ow:
        raise NotImplementedError("adaptive_max_pool2d: only output sizes that divide the input size")
    return max_pool2d(input, (h // oh, w // ow) if h // oh == w // ow else None, None, 0,
                      return_indices=return_indices)


def pixel_shuffle(input, upscale_factor):
    r = upscale_factor
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    x = input.reshape(-1, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    r = downscale_factor
    *lead, c, h, w = input.shape
    x = input.reshape(-1, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(*lead, c * r * r, h // r, w // r)


# ------------------------------------------------------------ resampling and padding
def _resize_matrix(n_in, n_out, mode, align_corners, scale, dtype):
    """The (n_out, n_in) matrix that resamples one axis; applied by matmul, so gradients
    follow."""
    m = np.zeros((n_out, n_in))
    j = np.arange(n_out)
    if mode == "nearest":
        step = (1.0 / scale) if scale else n_in / n_out
        src = np.minimum(np.floor(j * step).astype(np.int64), n_in - 1)
        m[j, src] = 1.0
    else:
        if align_corners:
            src = j * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
        else:
            step = (1.0 / scale) if scale else n_in / n_out
            src = np.maximum((j + 0.5) * step - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = src - lo
        np.add.at(m, (j, lo), 1.0 - frac)
        np.add.at(m, (j, hi), frac)
    return _C.tensor(m).to(dtype)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    spatial = input.dim() - 2
    if spatial not in (1, 2):
        raise NotImplementedError("interpolate: 3-d and 4-d inputs (one or two spatial dims) so far")
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode '{mode}' is not supported yet (nearest, linear, bilinear)")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear")
    in_sizes = list(input.shape[2:])
    if size is not None:
        out_sizes = [size] * spatial if isinstance(size, numbers.Integral) else list(size)
        scales = [None] * spatial
    else:
        sf = [scale_factor] * spatial if isinstance(scale_factor, numbers.Number) else list(scale_factor)
        out_sizes = [int(math.floor(n * f)) for n, f in zip(in_sizes, sf)]
        scales = [None if recompute_scale_factor else f for f in sf]
    x = input
    dt = input.dtype
    # last axis: x @ M^T; the one before: M @ x
    mw = _resize_matrix(in_sizes[-1], out_sizes[-1], mode, bool(align_corners), scales[-1], dt)
    x = _C.matmul(x, mw.t())
    if spatial == 2:
        mh = _resize_matrix(in_sizes[0], out_sizes[0], mode, bool(align_corners), scales[0], dt)
        x = _C.matmul(mh, x)
    return x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, "bilinear", align_corners=True)


def pad(input, pad, mode="constant", value=None):
    if mode == "constant":
        return _F.pad(input, tuple(pad), 0.0 if value is None else float(value))
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode '{mode}' is not supported")
    x = input
    for i in range(len(pad) // 2):
        dim = input.dim() - 1 - i
        left, right = pad[2 * i], pad[2 * i + 1]
        n = x.shape[dim]
        j = np.arange(-left, n + right)
        if mode == "reflect":
            if left >= n or right >= n:
                raise RuntimeError("Argument #4: Padding size should be less than the corresponding input dimension")
            period = 2 * (n - 1) if n > 1 else 1
            j = np.abs(((j % period) + period) % period)
            j = np.where(j >= n, period - j, j)
        elif mode == "replicate":
            j = np.clip(j, 0, n - 1)
        else:
            j = j % n
        x = _C.index_select(x, dim, _C.from_numpy(np.ascontiguousarray(j, dtype=np.int64)))
    return x


# ------------------------------------------------------------ normalisation
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return _F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    return _F.layer_norm(input, tuple(normalized_shape) if not isinstance(normalized_shape, int) else
                         (normalized_shape,), weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    return _F.group_norm(input, num_groups, weight, bias, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    if not use_input_stats:
        raise NotImplementedError("instance_norm with running statistics is not supported yet")
    c = input.shape[1]
    return _F.group_norm(input, c, weight, bias, eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    raise NotImplementedError("local_response_norm is not supported yet")


# ------------------------------------------------------------ losses
def _class_last(input, target):
    """(N, C, d1, ...) scores and (N, d1, ...) targets as (M, C) and (M,)."""
    if input.dim() > 2:
        c = input.shape[1]
        perm = [0] + list(range(2, input.dim())) + [1]
        return input.permute(*perm).reshape(-1, c), target.reshape(-1)
    if input.dim() == 1:
        return input.unsqueeze(0), target.reshape(1)
    return input, target


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    shape = tuple(target.shape)
    logp, t = _class_last(input, target)
    if t.dtype != _C.int64:
        raise RuntimeError(f"expected scalar type Long but found {t.dtype}")
    valid = t != ignore_index
    safe = _C.where(valid, t, _C.zeros_like(t))
    c = logp.shape[1]
    if t.numel() and bool(((safe < 0) | (safe >= c)).any()):
        bad = int(safe[(safe < 0) | (safe >= c)][0])
        raise IndexError(f"Target {bad} is out of bounds.")
    picked = -_C.gather(logp, 1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(logp.dtype)
    if weight is not None:
        w = w * _C.index_select(weight.to(logp.dtype), 0, safe)
    loss = picked * w
    if reduction == "none":
        return loss.reshape(*shape) if input.dim() != 1 else loss.reshape(())
    return _reduce(loss, reduction, w.sum())


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    reduction = _reduction(size_average, reduce, reduction)
    if target.is_floating_point():  # class probabilities
        logp = log_softmax(input, 1 if input.dim() > 1 else 0)
        tgt = target
        if label_smoothing:
            c = input.shape[1 if input.dim() > 1 else 0]
            tgt = tgt * (1 - label_smoothing) + label_smoothing / c
        if weight is not None:
            w = weight.reshape(1, -1, *([1] * (input.dim() - 2))) if input.dim() > 1 else weight
            loss = -(logp * tgt * w).sum(1 if input.dim() > 1 else 0)
        else:
            loss = -(logp * tgt).sum(1 if input.dim() > 1 else 0)
        return _reduce(loss, reduction) if reduction != "mean" else (loss.sum() / (input.shape[0] if input.dim() > 1
                                                                                   else 1))
    if weight is None and input.dim() == 2:
        return _F.cross_entropy(input, target, None, ignore_index, reduction, label_smoothing)
    logp = log_softmax(input, 1 if input.dim() > 1 else 0)
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if not label_smoothing:
        return nll
    lp, t = _class_last(logp, target)
    valid = (t != ignore_index).to(lp.dtype)
    c = lp.shape[1]
    if weight is not None:
        smooth = -(lp * weight.to(lp.dtype)).sum(1) * valid
        denom = (_C.index_select(weight.to(lp.dtype), 0, _C.where(t != ignore_index, t, _C.zeros_like(t))) *
                 valid).sum()
    else:
        smooth = -lp.sum(1) * valid
        denom = valid.sum()
    if reduction == "none":
        smooth = smooth.reshape(*target.shape)
        return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)
    smooth = smooth.sum() / denom if reduction == "mean" else smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return _F.mse_loss(input, target, _reduction(size_average, reduce, reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return _F.l1_loss(input, target, _reduction(size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    return _F.smooth_l1_loss(input, target, _reduction(size_average, reduce, reduction), beta)


def huber_loss(input, target, reduction="mean", delta=1.0):
    d = (input - target).abs()
    loss = _C.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Using a target size ({tuple(target.shape)}) that is different to the input size "
                         f"({tuple(input.shape)}) is deprecated. Please ensure they have the same size.")
    if weight is None:
        return _F.binary_cross_entropy(input, target, reduction)
    return _reduce(_F.binary_cross_entropy(input, target, "none") * weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Target size ({tuple(target.shape)}) must be the same as input size ({tuple(input.shape)})")
    if weight is None and pos_weight is None:
        return _F.binary_cross_entropy_with_logits(input, target, reduction)
    log_sig = logsigmoid(input)
    log_one_minus = logsigmoid(-input)
    pos = target * log_sig * (pos_weight if pos_weight is not None else 1.0)
    loss = -(pos + (1 - target) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    reduction = _reduction(size_average, reduce, reduction)
    if log_target:
        loss = _C.exp(target) * (target - input)
    else:
        loss = _C.where(target > 0, target * (_C.log(_C.clamp(target, min=1e-45)) - input), _C.zeros_like(input * target))
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.dim() else loss.sum()
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    loss = _C.exp(input) - target * input if log_input else input - target * _C.log(input + eps)
    if full:
        stirling = target * _C.log(_C.clamp(target, min=1.0)) - target + 0.5 * _C.log(2 * math.pi *
                                                                                   _C.clamp(target, min=1.0))
        loss = loss + _C.where(target > 1, stirling, _C.zeros_like(target))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    v = _C.clamp(var, min=eps)
    loss = 0.5 * (_C.log(v) + (input - target) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    return _reduce(_C.clamp(-target * (input1 - input2) + margin, min=0.0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    neg = _C.clamp(margin - input, min=0.0)
    loss = _C.where(target == 1, input, _C.zeros_like(input)) + _C.where(target == -1, neg, _C.zeros_like(input))
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    return _reduce(_C.log1p(_C.exp(-target * input)), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    cos = cosine_similarity(input1, input2, 1, 1e-12)
    loss = _C.where(target == 1, 1 - cos, _C.clamp(cos - margin, min=0.0))
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    dp = pairwise_distance(anchor, positive, p, eps)
    dn = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dn = _C.minimum(dn, pairwise_distance(positive, negative, p, eps))
    return _reduce(_C.clamp(dp - dn + margin, min=0.0), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.mean(-1), reduction)


# ------------------------------------------------------------ attention
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    if scale is not None:
        query = query * (scale * math.sqrt(query.shape[-1]))
    if attn_mask is not None and attn_mask.dtype != _C.bool and not attn_mask.is_floating_point():
        attn_mask = attn_mask.to(_C.bool)
    return _F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    return _F.unfold(input, kernel_size, _pair(dilation)[0], _pair(padding)[0], _pair(stride)[0])


del builtins
