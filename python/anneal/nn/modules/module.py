"""anneal.nn.Module with PyTorch's behaviour: attributes register parameters, buffers and
sub-modules (and re-assigning one replaces it, so `a.weight = b.weight` ties weights),
parameters()/modules() are iterators, hooks, to()/cuda()/double()/..., state_dict with
PyTorch's names, load_state_dict returning (missing_keys, unexpected_keys).

The registry lives in the C++ Module underneath, so the Trainer, checkpoints, DDP and
C++ containers see a Python-defined module as any other."""
import collections
import copy
import itertools

from anneal import _C
from anneal._C import Tensor

_IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _ParameterMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.is_leaf and (obj.requires_grad or getattr(obj, "_is_parameter", False))


class Parameter(metaclass=_ParameterMeta):
    """`nn.Parameter(t)`: t's data as a leaf that requires grad, registered when assigned to
    a Module attribute. anneal tensors are the core's one type, so this returns a marked
    Tensor; isinstance(x, nn.Parameter) holds for leaves that require grad."""

    def __new__(cls, data=None, requires_grad=True):
        t = (data if data is not None else _C.zeros(0)).detach()
        t.requires_grad = requires_grad
        t._is_parameter = True
        return t


class UninitializedParameter:  # named by some programs' isinstance checks; never created here
    pass


def _is_param(value, registered=False):
    """A tensor marked by nn.Parameter, or (for a name already holding a parameter) any leaf
    that requires grad: `a.weight = b.weight` hands over a fresh handle on b's parameter."""
    if not isinstance(value, Tensor):
        return False
    return getattr(value, "_is_parameter", False) or (registered and value.is_leaf and value.requires_grad)


def _check_name(kind, name):
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name or name == "":
        raise KeyError(f"{kind} name can't contain \".\" and can't be empty: '{name}'")


class Module(_C.nn.Module):
    dump_patches = False
    _version = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"Module.__init__() takes no arguments (got {len(args) + len(kwargs)})")
        _C.nn.Module.__init__(self)
        d = self.__dict__
        d["_forward_hooks"] = collections.OrderedDict()
        d["_forward_pre_hooks"] = collections.OrderedDict()
        d["_non_persistent"] = set()
        d["_hook_ids"] = itertools.count()

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_forward_hooks" not in self.__dict__ and not name.startswith("__"):
            raise AttributeError("cannot assign module attributes before Module.__init__() call")
        if _is_param(value, name in self._param_names()) or (value is None and name in self._param_names()):
            self.register_parameter(name, value)
        elif isinstance(value, _C.nn.Module):
            self.add_module(name, value)
        elif name in self._buffer_names() and (value is None or isinstance(value, Tensor)):
            self._set_buffer(name, value)
        elif name in self._child_names() and value is None:
            self._remove_child(name)
            self.__dict__.pop("_children_cache", None)
            object.__setattr__(self, name, None)
        elif isinstance(value, Tensor) and name in self._param_names():
            raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' (nn.Parameter or None "
                            "expected)")
        else:
            object.__setattr__(self, name, value)

    def _children_tuple(self):
        """The sub-modules in order, cached until the next registration change (containers
        walk them on every forward)."""
        cached = self.__dict__.get("_children_cache")
        if cached is None:
            cached = tuple(m for _, m in _C.nn.Module.named_children(self))
            self.__dict__["_children_cache"] = cached
        return cached

    def __getattr__(self, name):  # only reached when normal lookup fails
        if name.startswith("__") or name in ("_forward_hooks", "_forward_pre_hooks", "_non_persistent", "_hook_ids",
                                             "_children_cache"):
            raise AttributeError(name)
        for n, p in _C.nn.Module._named_parameter_slots(self):
            if n == name:
                return p
        for n, b in _C.nn.Module._named_buffer_slots(self):
            if n == name:
                return b
        for n, c in _C.nn.Module.named_children(self):
            if n == name:
                return c
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        self.__dict__.pop("_children_cache", None)
        if name in self._child_names():
            self._remove_child(name)
        if name in self._param_names():
            self._remove_parameter(name)
        if name in self._buffer_names():
            self._remove_buffer(name)
        if name in self.__dict__:
            object.__delattr__(self, name)

    def _param_names(self):
        return [n for n, _ in _C.nn.Module._named_parameter_slots(self)]

    def _buffer_names(self):
        return [n for n, _ in _C.nn.Module._named_buffer_slots(self)]

    def _child_names(self):
        return [n for n, _ in _C.nn.Module.named_children(self)]

    def register_parameter(self, name, param, requires_grad=None):
        _check_name("parameter", name)
        if param is not None and not isinstance(param, Tensor):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        if name in self.__dict__ and name not in self._param_names():
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not param.is_leaf:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created "
                             "explicitly; use .detach() for a copy that is a leaf")
        grad = param.requires_grad if requires_grad is None and param is not None else bool(requires_grad)
        t = _C.nn.Module._set_parameter(self, name, param, grad)
        object.__setattr__(self, name, t)
        return t

    def register_buffer(self, name, tensor, persistent=True):
        _check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (torch Tensor or "
                            "None required)")
        if name in self._param_names():
            raise KeyError(f"attribute '{name}' already exists")
        self._set_buffer(name, tensor)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def _set_buffer(self, name, tensor):
        t = _C.nn.Module._set_buffer(self, name, tensor)
        object.__setattr__(self, name, t)

    def add_module(self, name, module):
        _check_name("module", name)
        if module is None:
            if name in self._child_names():
                self._remove_child(name)
            self.__dict__.pop("_children_cache", None)
            object.__setattr__(self, name, None)
            return
        if not isinstance(module, _C.nn.Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if module is self:
            raise ValueError("a module cannot be its own child")
        _C.nn.Module._set_child(self, name, module)
        object.__setattr__(self, name, module)
        self.__dict__.pop("_children_cache", None)

    register_module = add_module

    def __deepcopy__(self, memo):
        return _deepcopy_module(self, memo)

    # ------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if not self._forward_pre_hooks and not self._forward_hooks:  # (the common case, kept short)
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False):
        return _Handle(self._forward_hooks, next(self._hook_ids), hook, prepend)

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        return _Handle(self._forward_pre_hooks, next(self._hook_ids), hook, prepend)

    def extra_repr(self):
        return ""

    def type_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        for name, child in self.named_children():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ("\n  " + extra) if extra else ""
        return f"{type(self).__name__}(" + body + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._param_names()) | set(self._buffer_names()) |
                      set(self._child_names()))

    # state_dict / load_state_dict with non-persistent buffers left out
    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        out = collections.OrderedDict() if destination is None else destination
        skip = set()
        for mname, m in self.named_modules():
            for b in getattr(m, "_non_persistent", ()):
                skip.add(f"{mname}.{b}" if mname else b)
        for k, v in _C.nn.Module.state_dict(self).items():
            if k not in skip:
                out[prefix + k] = v if keep_vars else v.detach()
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and (missing or unexpected):
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        for k, v in state_dict.items():
            if k in own:
                mine = own[k]
                v = v if isinstance(v, Tensor) else _C.tensor(v)
                if tuple(v.shape) != tuple(mine.shape):
                    errors.append(f"size mismatch for {k}: copying a param with shape {tuple(v.shape)} from "
                                  f"checkpoint, the shape in current model is {tuple(mine.shape)}.")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)
        try:
            for k, v in state_dict.items():
                if k in own:
                    mine = own[k]
                    src = v if isinstance(v, Tensor) else _C.tensor(v)
                    mine.copy_(src.to(mine.dtype).to(str(mine.device)) if src.dtype != mine.dtype else src)
        finally:
            _C._set_grad_enabled(prev)
        return _IncompatibleKeys(missing, unexpected)


def _deepcopy_module(self, memo):
    """A Module copied with its parameters, buffers and sub-modules (fresh tensors with the
    same values and requires_grad; tied parameters stay tied within the copy)."""
    cls = type(self)
    new = cls.__new__(cls)
    memo[id(self)] = new
    Module.__init__(new)
    by_impl = {}

    def clone(t):
        if t is None:
            return None
        key = hash(t)
        if key not in by_impl:
            c = t.detach().clone()
            c.requires_grad = t.requires_grad
            c._is_parameter = True
            by_impl[key] = c
        return by_impl[key]
    params = _C.nn.Module._named_parameter_slots(self)
    buffers = _C.nn.Module._named_buffer_slots(self)
    children = list(_C.nn.Module.named_children(self))
    registered = {n for n, _ in params} | {n for n, _ in buffers} | {n for n, _ in children}
    for k, v in self.__dict__.items():
        if k not in registered and k not in ("_forward_hooks", "_forward_pre_hooks", "_hook_ids"):
            object.__setattr__(new, k, copy.deepcopy(v, memo))
    for n, p in params:
        new.register_parameter(n, clone(p))
    for n, b in buffers:
        t = None if b is None else b.detach().clone()
        _C.nn.Module._set_buffer(new, n, t)
        object.__setattr__(new, n, t)
    for n, c in children:
        new.add_module(n, copy.deepcopy(c, memo))
    new.train(self.training)
    return new


class _Handle:
    """What register_*_hook returns: .remove() takes the hook out."""

    def __init__(self, table, key, hook, prepend):
        self._table, self.id = table, key
        table[key] = hook
        if prepend:
            table.move_to_end(key, last=False)

    def remove(self):
        self._table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
