"""The Module methods that PyTorch programs call on any module, C++ layers included:
iterators over parameters/buffers/children/modules, to()/cuda()/double()/..., requires_grad_,
get_submodule/get_parameter, train/eval returning the module. Installed on anneal._C.nn.Module
by anneal/nn/__init__.py, so anneal's C++ models (GPT, ...) answer them too."""
from anneal import _C
from anneal._C import Tensor
from anneal._device import as_device_string

_c = _C.nn.Module
_c_named_parameters = _c.named_parameters
_c_named_buffers = _c.named_buffers
_c_named_children = _c.named_children
_c_to = _c.to
_c_train = _c.train


def named_children(self):
    return iter(_c_named_children(self))


def children(self):
    return iter(m for _, m in _c_named_children(self))


def named_modules(self, memo=None, prefix="", remove_duplicate=True):
    memo = set() if memo is None else memo
    stack = [(prefix, self)]
    while stack:
        name, m = stack.pop()
        if remove_duplicate:
            if id(m) in memo:
                continue
            memo.add(id(m))
        yield name, m
        kids = list(_c_named_children(m))
        for n, c in reversed(kids):
            stack.append((f"{name}.{n}" if name else n, c))


def modules(self):
    return (m for _, m in named_modules(self))


def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
    if isinstance(prefix, bool):  # the core's named_parameters(recurse) positionally
        prefix, recurse = "", prefix
    for n, p in _c_named_parameters(self, recurse):
        yield (f"{prefix}.{n}" if prefix else n), p


def parameters(self, recurse=True):
    return (p for _, p in _c_named_parameters(self, recurse))


def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
    if isinstance(prefix, bool):
        prefix, recurse = "", prefix
    for n, b in _c_named_buffers(self, recurse):
        yield (f"{prefix}.{n}" if prefix else n), b


def buffers(self, recurse=True):
    return (b for _, b in _c_named_buffers(self, recurse))


def to(self, *args, **kwargs):
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if isinstance(a, _C.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dev, dtype = a.device, a.dtype
        elif isinstance(a, (str, int)) and not isinstance(a, bool):
            dev = a
    if dev is not None:
        _c_to(self, as_device_string(dev))
    if dtype is not None:
        if not dtype.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        _c_to(self, dtype)
    return self


def cuda(self, device=None):
    return to(self, "cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))


def cpu(self):
    return to(self, "cpu")


def _cast(dtype):
    def method(self):
        return to(self, dtype)
    return method


def type_(self, dst_type):
    return to(self, dst_type)


def train(self, mode=True):
    if not isinstance(mode, bool):
        raise ValueError("training mode is expected to be boolean")
    _c_train(self, mode)
    return self


def eval_(self):
    return train(self, False)


def requires_grad_(self, requires_grad=True):
    for p in parameters(self):
        p.requires_grad_(requires_grad)
    return self


def get_submodule(self, target):
    if target == "":
        return self
    m = self
    for part in target.split("."):
        found = dict(_c_named_children(m))
        if part not in found:
            raise AttributeError(f"{type(m).__name__} has no attribute `{part}`")
        m = found[part]
    return m


def _lookup(self, target, listing, kind):
    mod, _, name = target.rpartition(".")
    owner = get_submodule(self, mod)
    for n, t in listing(owner, False):
        if n == name:
            return t
    raise AttributeError(f"{type(owner).__name__} has no {kind} `{name}`")


def get_parameter(self, target):
    return _lookup(self, target, _c_named_parameters, "parameter")


def get_buffer(self, target):
    return _lookup(self, target, _c_named_buffers, "buffer")


def share_memory(self):
    return self


def call(self, *args, **kwargs):
    """C++ modules are called like Python ones; their forward runs the module's hooks."""
    return self.forward(*args, **kwargs)


def install():
    _c.__call__ = call
    for fn in (named_children, children, named_modules, modules, named_parameters, parameters, named_buffers,
               buffers, to, cuda, cpu, train, requires_grad_, get_submodule, get_parameter, get_buffer, share_memory):
        setattr(_c, fn.__name__, fn)
    _c.eval = eval_
    _c.type = type_
    _c.double, _c.float, _c.half, _c.bfloat16 = (_cast(d) for d in (_C.float64, _C.float32, _C.float16, _C.bfloat16))
