"""The parts of PyTorch's tensor surface written over anneal's core ops: factories that
take `device=`/`dtype=`/`requires_grad=` everywhere, the Tensor methods and functions
PyTorch programs reach for (new_*, *_as, in-place initialisers, sort/topk, cumsum, roll,
flip, advanced indexing with lists and tensors on any dim, ...), named (values, indices)
results. Everything here is composed of differentiable core ops, so gradients follow.

Installed onto `anneal` and `anneal.Tensor` by anneal/__init__.py."""
import builtins
import functools
import collections
import math
import numbers

import numpy as np

from anneal import _C
from anneal._C import Tensor
from anneal._device import as_device_string, device
from anneal._einsum import einsum  # noqa: F401
from anneal._indexing import _getitem, _index_tensor, _setitem, broadcast_shapes, broadcast_tensors  # noqa: F401

_c_getitem = Tensor.__getitem__
_c_to = Tensor.to
_c_device = Tensor.device
_c_split = _C.split
_c_repeat = _C.repeat
_c_max, _c_min = _C.max, _C.min
_c_sum, _c_mean = _C.sum, _C.mean
_c_add_ = Tensor.add_

_FLOAT_TYPES = {_C.float32, _C.float64, _C.float16, _C.bfloat16}

values_indices = collections.namedtuple("values_indices", ["values", "indices"])


def _np(t):
    return t.detach().cpu().numpy()


def _norm_dim(d, n):
    if d < -builtins.max(n, 1) or d >= builtins.max(n, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-builtins.max(n, 1)}, "
                         f"{builtins.max(n, 1) - 1}], but got {d})")
    return d % builtins.max(n, 1)


# ---------------------------------------------------------------- factories
def _finish(t, dtype, dev, requires_grad):
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    if dev is not None and as_device_string(dev) != "cpu":
        t = t.to(as_device_string(dev))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size_args(size):
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        return tuple(int(s) for s in size[0])
    return tuple(int(s) for s in size)


def _shaped(c_fn):
    def factory(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False,
                generator=None, memory_format=None):
        t = c_fn(*_size_args(size), dtype=dtype, device=as_device_string(device))
        if requires_grad:
            t.requires_grad_(True)
        if pin_memory:
            t = t.pin_memory()
        return t
    factory.__name__ = factory.__qualname__ = c_fn.__name__
    factory.__doc__ = c_fn.__doc__
    return factory


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    return _finish(_C.tensor(data, dtype=dtype), None, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor):
        t = data if dtype is None or data.dtype == dtype else data.to(dtype)
        return t if device is None else t.to(as_device_string(device))
    if isinstance(data, np.ndarray) and data.flags.writeable and data.dtype.isnative and dtype is None and \
            device in (None, "cpu"):
        try:
            return _C.from_numpy(data)
        except (TypeError, ValueError):
            pass
    return tensor(data, dtype=dtype, device=device)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if isinstance(size, numbers.Integral):
        size = (size,)
    return _finish(_C.full(tuple(size), fill_value, dtype=dtype), None, device, requires_grad)


def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    for v in (start, end, step):
        if isinstance(v, Tensor):
            raise TypeError("arange: start, end and step must be numbers; use .item() on a tensor")
    return _finish(_C.arange(start, end, step, dtype=dtype), None, device, requires_grad)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    t = _C.eye(n, dtype=dtype)
    if m is not None and m != n:
        t = _C.functional.pad(t, (0, m - n)) if m > n else t[:, :m]
    return _finish(t, None, device, requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    return _finish(_C.linspace(start, end, steps, dtype=dtype), None, device, requires_grad)


def randint(*args, size=None, generator=None, dtype=None, layout=None, device=None, requires_grad=False, out=None):
    """randint(high, size) or randint(low, high, size), as torch.randint."""
    if size is None:
        if len(args) == 2:
            (high, size), low = args, 0
        elif len(args) == 3:
            low, high, size = args
        else:
            raise TypeError("randint() expects (high, size) or (low, high, size)")
    else:
        low, high = (0, args[0]) if len(args) == 1 else args
    if isinstance(size, numbers.Integral):
        size = (size,)
    return _finish(_C.randint(int(low), int(high), tuple(size)), dtype, device, requires_grad)


def randperm(n, *, generator=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    keys = _C.rand(int(n), dtype=_C.float64) if generator is None else generator._rand(int(n))
    return _finish(_index_tensor(np.argsort(_np(keys), kind="stable"), keys), dtype, device, requires_grad)


def _like(c_fn):
    def factory(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
        t = c_fn(input)
        return _finish(t, dtype, device, requires_grad)
    factory.__name__ = factory.__qualname__ = c_fn.__name__
    return factory


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return _finish(_C.full_like(input, fill_value), dtype, device, requires_grad)


def empty_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return _finish(_C.zeros_like(input), dtype, device, requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return _finish(_C.randint(int(low), int(high), tuple(input.shape)), dtype or input.dtype, device or input.device,
                   requires_grad)


# ---------------------------------------------------------------- Tensor.device, .to, .data
def _device_of(self):
    return device(_c_device.__get__(self))


def _to(self, *args, **kwargs):
    """to(device), to(dtype), to(device, dtype), to(other), with non_blocking/copy keywords."""
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    non_blocking = kwargs.pop("non_blocking", False)
    copy = kwargs.pop("copy", False)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if isinstance(a, Tensor):
            dev, dtype = a.device, a.dtype
        elif isinstance(a, _C.dtype):
            dtype = a
        elif isinstance(a, bool):
            non_blocking = a
        elif isinstance(a, (str, int)):
            dev = a
        else:
            raise TypeError(f"to() received an invalid combination of arguments: {type(a).__name__}")
    t = self
    if dev is not None and as_device_string(dev) != str(_c_device.__get__(t)):
        t = _c_to(t, as_device_string(dev), non_blocking)
    if dtype is not None and dtype != t.dtype:
        t = _c_to(t, dtype)
    if copy and t is self:
        t = self.clone()
    return t


def _get_data(self):
    return self.detach()


def _set_data(self, value):
    if not isinstance(value, Tensor):
        raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
    if tuple(value.shape) != tuple(self.shape) or value.dtype != self.dtype:
        raise RuntimeError(f"assigning .data of shape {tuple(value.shape)} and {value.dtype} to a tensor of shape "
                           f"{tuple(self.shape)} and {self.dtype}: anneal replaces data in place, so shape and "
                           "dtype must match")
    with _no_grad():
        self.copy_(value)


from anneal._grad import NoGrad as _no_grad  # noqa: E402


# ---------------------------------------------------------------- new_*, *_as, conversions
def new_zeros(self, *size, dtype=None, device=None, requires_grad=False, **_):
    return _finish(_C.zeros(*_size_args(size), dtype=dtype or self.dtype), None, device or self.device, requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False, **_):
    return _finish(_C.ones(*_size_args(size), dtype=dtype or self.dtype), None, device or self.device, requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False, **_):
    return new_zeros(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, **_):
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def new(self, *args):
    """Legacy Tensor.new: new(size...) is uninitialised (zeros here), new(data) copies data."""
    if not args:
        return new_zeros(self, 0)
    if len(args) == 1 and not isinstance(args[0], numbers.Integral) and not isinstance(args[0], tuple):
        return new_tensor(self, args[0])
    return new_zeros(self, *args)


def type_as(self, other):
    return self.to(other.dtype)


def view_as(self, other):
    return self.view(*other.shape)


def reshape_as(self, other):
    return self.reshape(*other.shape)


def expand_as(self, other):
    return self.expand(*other.shape)


def _type(self, dtype=None, non_blocking=False, **_):
    if dtype is None:
        return "anneal." + {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                            "int32": "IntTensor", "uint8": "ByteTensor", "bool": "BoolTensor",
                            "float16": "HalfTensor", "bfloat16": "BFloat16Tensor"}[_dtype_name(self.dtype)]
    if isinstance(dtype, str):
        name = dtype.rsplit(".", 1)[-1]
        dtype = {"FloatTensor": _C.float32, "DoubleTensor": _C.float64, "LongTensor": _C.int64, "IntTensor": _C.int32,
                 "ByteTensor": _C.uint8, "BoolTensor": _C.bool, "HalfTensor": _C.float16}[name]
    return self.to(dtype)


def _cast(dt):
    def conv(self, memory_format=None):
        return self.to(dt)
    return conv


def element_size(self):
    return self.itemsize


def nelement(self):
    return self.numel()


def get_device(self):
    d = self.device
    return -1 if d.type == "cpu" else (d.index or 0)


def _index(self):
    if self.numel() != 1 or self.is_floating_point():
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return int(self.item())


def _iter(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _reduce(self):  # pickling: the data, dtype, device and requires_grad
    arr = _np(self.to(_C.float32) if self.dtype == _C.bfloat16 else self)
    return (_rebuild, (arr, _dtype_name(self.dtype), str(self.device), self.requires_grad))


def _rebuild(arr, dtype_name, dev, requires_grad):
    t = _C.tensor(arr).to(getattr(_C, dtype_name))
    if dev != "cpu":
        t = t.to(dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


# ---------------------------------------------------------------- ops composed of core ops
def split(tensor, split_size_or_sections, dim=0):
    if isinstance(split_size_or_sections, numbers.Integral):
        return tuple(_c_split(tensor, int(split_size_or_sections), dim))
    sizes = [int(s) for s in split_size_or_sections]
    n = tensor.shape[dim]
    if builtins.sum(sizes) != n:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                           f"dimension {dim}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(tensor.narrow(dim, start, s))
        start += s
    return tuple(out)


def _select(input, dim, index):
    d = _norm_dim(dim, input.dim())
    return _c_getitem(input, (slice(None),) * d + (int(index),))


def unbind(input, dim=0):
    return tuple(_select(input, dim, i) for i in range(input.shape[dim]))


def repeat(self, *sizes):
    return _c_repeat(self, _size_args(sizes))


def broadcast_to(input, size):
    return input.expand(*size)


def roll(input, shifts, dims=None):
    if dims is None:
        return roll(input.reshape(-1), shifts, 0).reshape(*input.shape)
    if isinstance(shifts, (tuple, list)):
        out = input
        for s, d in zip(shifts, dims if isinstance(dims, (tuple, list)) else [dims]):
            out = roll(out, s, d)
        return out
    if isinstance(dims, (tuple, list)):
        dims = dims[0]
    n = input.shape[dims]
    if n == 0:
        return input
    s = shifts % n
    if s == 0:
        return input
    return _C.cat([input.narrow(dims, n - s, s), input.narrow(dims, 0, n - s)], dims)


def flip(input, dims):
    dims = [dims] if isinstance(dims, numbers.Integral) else list(dims)
    out = input
    for d in dims:
        n = out.shape[d]
        out = _C.index_select(out, d, _index_tensor(np.arange(n - 1, -1, -1), out))
    return out


def fliplr(input):
    return flip(input, 1)


def flipud(input):
    return flip(input, 0)


def _move_last(x, dim):
    return x.transpose(dim, -1) if dim not in (-1, x.dim() - 1) else x


def cumsum(input, dim, *, dtype=None, out=None):
    x = input if dtype is None else input.to(dtype)
    if x.dim() == 0:
        return x.clone()
    if not x.is_floating_point():
        arr = np.cumsum(_np(x), axis=dim)
        return _C.tensor(arr).to(x.dtype)
    n = x.shape[dim]
    tri = _C.triu(_C.ones(n, n, dtype=x.dtype, device=str(x.device)))
    return _move_last(_C.matmul(_move_last(x, dim), tri), dim)


def cumprod(input, dim, *, dtype=None, out=None):
    x = input if dtype is None else input.to(dtype)
    if x.dim() == 0:
        return x.clone()
    parts, acc = [], None
    for i in range(x.shape[dim]):
        s = x.narrow(dim, i, 1)
        acc = s if acc is None else acc * s
        parts.append(acc)
    return _C.cat(parts, dim) if parts else x.clone()


def sort(input, dim=-1, descending=False, stable=False):
    d = _norm_dim(dim, input.dim())
    if input.dim() == 0:
        return values_indices(input.clone(), _C.zeros((), dtype=_C.int64))
    keys = _np(input)
    order = np.argsort(-keys if descending and keys.dtype != np.bool_ else keys, axis=d, kind="stable")
    if descending and keys.dtype == np.bool_:
        order = np.argsort(~keys, axis=d, kind="stable")
    idx = _index_tensor(order, input)
    return values_indices(_C.gather(input, d, idx), idx)


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending, stable).indices


def topk(input, k, dim=-1, largest=True, sorted=True):
    d = _norm_dim(dim, input.dim())
    n = input.shape[d] if input.dim() else 1
    if k < 0 or k > n:
        raise RuntimeError(f"selected index k out of range: k={k} for a dimension of size {n}")
    s = sort(input, d, descending=largest)
    return values_indices(s.values.narrow(d, 0, k), s.indices.narrow(d, 0, k))


def kthvalue(input, k, dim=-1, keepdim=False):
    d = _norm_dim(dim, input.dim())
    s = sort(input, d)
    v, i = s.values.narrow(d, k - 1, 1), s.indices.narrow(d, k - 1, 1)
    return values_indices(v if keepdim else v.squeeze(d), i if keepdim else i.squeeze(d))


def median(input, dim=None, keepdim=False):
    if dim is None:
        flat = input.reshape(-1)
        return sort(flat).values[(flat.numel() - 1) // 2]
    d = _norm_dim(dim, input.dim())
    return kthvalue(input, (input.shape[d] - 1) // 2 + 1, d, keepdim)


def _max(input, dim=None, keepdim=False, *, out=None):
    if isinstance(dim, Tensor):
        return _C.maximum(input, dim)
    r = _c_max(input, dim, keepdim) if dim is not None else _c_max(input)
    return values_indices(*r) if isinstance(r, tuple) else r


def _min(input, dim=None, keepdim=False, *, out=None):
    if isinstance(dim, Tensor):
        return _C.minimum(input, dim)
    r = _c_min(input, dim, keepdim) if dim is not None else _c_min(input)
    return values_indices(*r) if isinstance(r, tuple) else r


def _sum(input, dim=None, keepdim=False, *, dtype=None, axis=None):
    x = input if dtype is None else input.to(dtype)
    dim = axis if dim is None else dim
    if x.dtype == _C.bool:
        x = x.to(_C.int64)
    return _c_sum(x) if dim is None else _c_sum(x, dim, keepdim)


def _mean(input, dim=None, keepdim=False, *, dtype=None, axis=None):
    x = input if dtype is None else input.to(dtype)
    dim = axis if dim is None else dim
    return _c_mean(x) if dim is None else _c_mean(x, dim, keepdim)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    if input.dim() not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    p = _np(input.to(_C.float64))
    rows = p.reshape(-1, p.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    totals = rows.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > (rows > 0).sum(axis=1).min():
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    u = _np(_C.rand(rows.shape[0], builtins.max(num_samples, rows.shape[1]) if not replacement else num_samples,
                    dtype=_C.float64))
    if replacement:
        cdf = np.cumsum(rows / totals, axis=1)
        out = np.stack([np.minimum(np.searchsorted(cdf[r], u[r], side="right"), rows.shape[1] - 1)
                        for r in range(rows.shape[0])])
    else:  # exponential races: the num_samples smallest E/p, E = -log(U)
        with np.errstate(divide="ignore"):
            keys = -np.log(u[:, :rows.shape[1]]) / rows
        out = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    out = out.reshape(*p.shape[:-1], num_samples)
    return _index_tensor(out, input)


def bernoulli(input, p=None, *, generator=None):
    probs = input if p is None else _C.full_like(input, p)
    return (_C.rand_like(probs.detach()) < probs.detach()).to(input.dtype)


def diag(input, diagonal=0):
    if input.dim() == 1:
        n = input.shape[0] + builtins.abs(diagonal)
        out = _C.zeros(n, n, dtype=input.dtype, device=str(input.device))
        rows = np.arange(input.shape[0]) + builtins.max(-diagonal, 0)
        cols = np.arange(input.shape[0]) + builtins.max(diagonal, 0)
        pos = _index_tensor(rows * n + cols, input)
        return _C.scatter_add(out.reshape(-1), 0, pos, input).reshape(n, n)
    if input.dim() == 2:
        r, c = input.shape
        rows = np.arange(r)
        cols = rows + diagonal
        ok = (cols >= 0) & (cols < c)
        pos = (rows * c + cols)[ok]
        return _C.index_select(input.reshape(-1), 0, _index_tensor(pos, input))
    raise RuntimeError("diag(): Supports 1D or 2D tensors")


def diagonal(input, offset=0, dim1=0, dim2=1):
    if input.dim() == 2 and (dim1, dim2) in ((0, 1), (-2, -1)):
        return diag(input, offset)
    raise NotImplementedError("diagonal: only of a matrix (dims 0 and 1) so far")


def trace(input):
    return diag(input).sum()


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    prod = _C.bmm(batch1, batch2)
    return (input * beta if beta != 1 else input) + (prod * alpha if alpha != 1 else prod)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    prod = _C.mm(mat1, mat2)
    return (input * beta if beta != 1 else input) + (prod * alpha if alpha != 1 else prod)


def isinf(input):
    return input.abs() == math.inf if input.is_floating_point() else _C.zeros_like(input).to(_C.bool)


def isfinite(input):
    if not input.is_floating_point():
        return _C.ones_like(input).to(_C.bool)
    return _C.logical_not(_C.logical_or(isinf(input), _C.isnan(input)))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    if not input.is_floating_point():
        return input.clone()
    info = np.finfo({"float32": np.float32, "float64": np.float64, "float16": np.float16}.get(_dtype_name(input.dtype),
                                                                                          np.float32))
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    x = _C.where(_C.isnan(input), _C.full_like(input, nan), input)
    x = _C.where(x == math.inf, _C.full_like(input, posinf), x)
    return _C.where(x == -math.inf, _C.full_like(input, neginf), x)


def clamp_(self, min=None, max=None):
    with _no_grad():
        self.copy_(_C.clamp(self, min=min, max=max))
    return self


def masked_fill_(self, mask, value):
    v = value.item() if isinstance(value, Tensor) else value
    self.copy_(_C.masked_fill(self, mask, v))
    return self


def index_add_(self, dim, index, source, *, alpha=1):
    self.copy_(_C.index_add(self, dim, index, source * alpha if alpha != 1 else source))
    return self


def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
    if src is None:
        src = value
    if not isinstance(src, Tensor):
        src = _C.full(tuple(index.shape), src, dtype=self.dtype)
    if reduce == "add":
        self.copy_(_C.scatter_add(self, dim, index, src))
    else:
        self.copy_(_C.scatter(self, dim, index, src))
    return self


def scatter_add_(self, dim, index, src):
    self.copy_(_C.scatter_add(self, dim, index, src))
    return self


def _inplace(fn):
    def method(self, *args, **kwargs):
        self.copy_(fn(self, *args, **kwargs))
        return self
    return method


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    with _no_grad():
        self.copy_(_C.randn_like(self) * std + mean)
    return self


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    with _no_grad():
        self.copy_(_C.rand_like(self) * (b - a) + a)
    return self


def bernoulli_(self, p=0.5, *, generator=None):
    with _no_grad():
        self.copy_(bernoulli(self, p))
    return self


def exponential_(self, lambd=1.0, *, generator=None):
    with _no_grad():
        self.copy_(-_C.log1p(-_C.rand_like(self)) / lambd)
    return self


def random_(self, low=0, high=None, *, generator=None):
    if high is None:
        low, high = 0, low
    with _no_grad():
        self.copy_(_C.randint(int(low), int(high), tuple(self.shape)).to(self.dtype))
    return self


def add_(self, other, *args, alpha=1):
    """add_(other, alpha=1), and the legacy add_(value, other) = self + value * other."""
    if args:
        value, other = other, args[0]
        return _c_add_(self, other, float(value))
    return _c_add_(self, other, alpha)


def _binary(fn):
    """A function as a Tensor method (x.topk(2) = topk(x, 2))."""
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    return method


def add(input, other, *, alpha=1, out=None):
    return input + (other * alpha if alpha != 1 else other)


def sub(input, other, *, alpha=1, out=None):
    return input - (other * alpha if alpha != 1 else other)


def mul(input, other, *, out=None):
    return input * other


def _is_integral(v):
    if isinstance(v, Tensor):
        return not v.is_floating_point() and v.dtype != _C.bool
    return isinstance(v, int) and not isinstance(v, bool)


_EXACT_IN_FLOAT64 = 2 ** 53


def _integer_division(input, other, rounding_mode):
    """floor/trunc division of integers, in the integers' dtype (as PyTorch): computed in
    float64, which is exact below 2^53 in magnitude; larger operands are refused rather
    than rounded."""
    a = input if isinstance(input, Tensor) else None
    b = other if isinstance(other, Tensor) else None
    # a Python int does not widen a tensor's dtype; two tensors promote
    out_dtype = (a * 0 + b * 0).dtype if a is not None and b is not None else (a if a is not None else b).dtype
    fa = a.double() if a is not None else float(input)
    fb = b.double() if b is not None else float(other)
    for v in (input, other):
        big = (v.abs().max().item() if v.numel() else 0) if isinstance(v, Tensor) else abs(v)
        if big >= _EXACT_IN_FLOAT64:
            raise RuntimeError(f"div(rounding_mode='{rounding_mode}'): integer operands of magnitude {big} (at least "
                               "2^53) are not supported yet")
    if (b is not None and bool((b == 0).any())) or (b is None and other == 0):
        raise ZeroDivisionError("ZeroDivisionError")  # (PyTorch's message for integer division by zero)
    q = fa / fb
    q = _C.floor(q) if rounding_mode == "floor" else _C.sign(q) * _C.floor(q.abs())
    return q.to(out_dtype)


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode not in (None, "floor", "trunc"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    if rounding_mode is not None and _is_integral(input) and _is_integral(other):
        return _integer_division(input, other, rounding_mode)
    q = input / other
    if rounding_mode == "floor":
        return _C.floor(q)
    if rounding_mode == "trunc":
        return _C.sign(q) * _C.floor(q.abs())
    return q


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    return input - floor_divide(input, other) * other


def eq(input, other):
    return input == other


def ne(input, other):
    return input != other


def lt(input, other):
    return input < other


def le(input, other):
    return input <= other


def gt(input, other):
    return input > other


def ge(input, other):
    return input >= other


def equal_method(self, other):
    return _C.equal(self, other)


_DTYPE_NAMES = {v: k for k, v in _C.dtype.__members__.items()}


def _dtype_name(dt):
    return _DTYPE_NAMES[dt]


def _dtype_repr(self):
    return "anneal." + _DTYPE_NAMES[self]


def _install(ns):
    """Puts the functions into the `anneal` namespace and the methods onto Tensor."""
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        ns[name] = _shaped(getattr(_C, name))
    for name in ("zeros_like", "ones_like", "rand_like", "randn_like"):
        ns[name] = _like(getattr(_C, name))
    for fn in (tensor, as_tensor, full, arange, eye, linspace, randint, randperm, full_like, empty_like, randint_like,
               split, unbind, roll, flip, fliplr, flipud, cumsum, cumprod, sort, argsort, topk, kthvalue, median,
               multinomial, bernoulli, diag, diagonal, trace, baddbmm, addmm, isinf, isfinite, nan_to_num, add, sub,
               mul, div, floor_divide, remainder, eq, ne, lt, le, gt, ge, einsum, broadcast_to, broadcast_shapes,
               broadcast_tensors):
        ns[fn.__name__] = fn
    ns["max"], ns["min"], ns["sum"], ns["mean"] = _max, _min, _sum, _mean
    ns["true_divide"] = div
    ns["device"] = device
    ns["Size"] = tuple
    ns["concat"] = ns["concatenate"] = _C.cat
    ns["absolute"] = _C.abs
    ns["clip"] = _C.clamp
    ns["is_tensor"] = lambda obj: isinstance(obj, Tensor)
    ns["is_floating_point"] = lambda t: t.is_floating_point()
    ns["numel"] = lambda t: t.numel()
    ns["t"] = lambda t: t.t()
    ns["squeeze"] = lambda t, dim=None: t.squeeze(dim)
    ns["unsqueeze"] = lambda t, dim: t.unsqueeze(dim)
    ns["flatten"] = lambda t, start_dim=0, end_dim=-1: t.flatten(start_dim, end_dim)
    ns["permute"] = lambda t, dims: t.permute(*dims)
    ns["narrow"] = lambda t, dim, start, length: t.narrow(dim, start, length)
    ns["chunk"] = lambda t, chunks, dim=0: tuple(_C.chunk(t, chunks, dim))
    ns["long"], ns["int"], ns["short"] = _C.int64, _C.int32, _C.int32
    ns["float"], ns["double"], ns["half"] = _C.float32, _C.float64, _C.float16

    T = Tensor
    T.device = property(_device_of)
    T.to = _to
    T.data = property(_get_data, _set_data)
    T.__getitem__ = _getitem
    T.__setitem__ = _setitem
    T.__index__ = _index
    T.__iter__ = _iter
    T.__reduce__ = _reduce
    T.__floordiv__ = floor_divide
    T.__mod__ = remainder
    T.__rmatmul__ = lambda self, other: _C.matmul(other, self)
    T.__invert__ = lambda self: _C.logical_not(self)
    T.__and__ = lambda self, other: _C.logical_and(self, other)
    T.__or__ = lambda self, other: _C.logical_or(self, other)
    T.__contains__ = lambda self, v: bool((self == v).any())
    T.__deepcopy__ = lambda self, memo: _rebuild(*_reduce(self)[1])
    for fn in (new_zeros, new_ones, new_empty, new_full, new_tensor, new, type_as, view_as, reshape_as, expand_as,
               element_size, nelement, get_device, repeat, clamp_, masked_fill_, index_add_, scatter_, scatter_add_,
               normal_, uniform_, bernoulli_, exponential_, random_, add_):
        setattr(T, fn.__name__, fn)
    T.type = _type
    T.select = _select
    T.half, T.bfloat16, T.int, T.bool, T.byte, T.short = (_cast(d) for d in (
        _C.float16, _C.bfloat16, _C.int32, _C.bool, _C.uint8, _C.int32))
    for fn in (split, unbind, roll, flip, cumsum, cumprod, sort, argsort, topk, kthvalue, median, multinomial,
               bernoulli, diag, diagonal, trace, isinf, isfinite, nan_to_num, add, sub, mul, div, floor_divide,
               remainder, eq, ne, lt, le, gt, ge, broadcast_to):
        setattr(T, fn.__name__, _binary(fn))
    T.max, T.min, T.sum, T.mean = _binary(_max), _binary(_min), _binary(_sum), _binary(_mean)
    T.true_divide = T.div
    T.equal = equal_method
    for name in ("gather", "scatter", "scatter_add", "index_select", "index_add", "masked_select", "nonzero", "tril",
                 "triu", "prod", "std", "logsumexp", "norm", "amin", "where", "chunk"):
        if hasattr(_C, name) and not hasattr(T, name):
            setattr(T, name, _binary(getattr(_C, name)) if name not in ("nonzero",) else
                    (lambda self, _f=getattr(_C, name): _f(self)))
    T.sub_ = lambda self, other, alpha=1: _c_add_(self, other, -float(alpha))
    T.div_ = lambda self, other: self.mul_(1.0 / other) if not isinstance(other, Tensor) else self.copy_(self / other)
    for name in ("exp", "log", "sqrt", "abs", "neg", "tanh", "sigmoid", "relu", "floor", "ceil", "round", "sign",
                 "reciprocal", "square", "sin", "cos", "erf", "rsqrt", "log1p", "expm1"):
        if not hasattr(T, name + "_"):
            setattr(T, name + "_", _inplace(getattr(_C, name)))
    T.pow_ = lambda self, e: self.copy_(_C.pow(self, e))
    T.clip = T.clamp
    T.clip_ = clamp_
    T.absolute = T.abs
    T.ndimension = lambda self: self.dim()
    T.is_complex = lambda self: False
    T.is_sparse = False
    T.is_quantized = False
    T.layout = "strided"
    _C.dtype.__repr__ = _C.dtype.__str__ = _dtype_repr
    _C.dtype.is_floating_point = property(lambda self: self in _FLOAT_TYPES)
    _C.dtype.is_complex = False
    _C.dtype.itemsize = property(lambda self: _C.zeros(1, dtype=self).itemsize)
