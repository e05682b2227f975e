"""anneal.optim with PyTorch's interface: parameter groups as dicts (`param_groups`, live:
`group["lr"] = x` takes effect at the next step), `state`, `state_dict()` /
`load_state_dict()`, `add_param_group`, `zero_grad(set_to_none=True)`, `step(closure)`.

Each class is the C++ optimizer (so GradScaler, checkpoints and the Trainer take it) with
the PyTorch constructor in front of it."""
import math

from anneal import _C
from anneal._C import Tensor
from anneal._C.optim import *  # noqa: F401,F403  (clip_grad_norm_, GradScaler, ...; the classes below replace some)
from anneal._C.optim import GradScaler  # noqa: F401

from . import lr_scheduler  # noqa: F401
from .lbfgs import LBFGS  # noqa: F401
from .lr_scheduler import (  # noqa: F401  (also importable from anneal.optim, as before)
    CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, MultiStepLR, StepLR)

_IGNORED = ("foreach", "fused", "differentiable", "capturable")  # accepted for PyTorch's signatures


def _to_cpp(key, value):
    """A PyTorch option as (C++ name, number) pairs; unknown keys stay Python-only."""
    if key == "betas":
        b1, b2 = value
        return [("beta1", float(b1)), ("beta2", float(b2))]
    if isinstance(value, bool):
        return [(key, 1.0 if value else 0.0)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [(key, float(value))]
    if isinstance(value, Tensor) and value.numel() == 1:
        return [(key, float(value.item()))]
    return []


class _ParamGroup(dict):
    """One entry of `param_groups`: a dict whose option reads and writes go to the C++
    optimizer, so a scheduler (Python or C++) and the step always agree."""

    def __init__(self, opt, index, content):
        super().__init__(content)
        self._opt = opt
        self._index = index

    def _live(self, key):
        if key == "params" or key not in self._opt._cpp_keys:
            return dict.__getitem__(self, key)
        o = self._opt
        if key == "betas":
            return (o._get_option(self._index, "beta1"), o._get_option(self._index, "beta2"))
        v = o._get_option(self._index, key)
        return bool(v) if isinstance(dict.get(self, key), bool) else v

    def __getitem__(self, key):
        return self._live(key)

    def get(self, key, default=None):
        return self._live(key) if key in self else default

    def items(self):
        return [(k, self._live(k)) for k in self.keys()]

    def values(self):
        return [self._live(k) for k in self.keys()]

    def __setitem__(self, key, value):
        dict.__setitem__(self, key, value)
        if key in self._opt._cpp_keys:
            for k, v in _to_cpp(key, value):
                self._opt._set_option(self._index, k, v)

    def __repr__(self):
        return repr(dict(self.items()))


class _PyTorchOptimizer:
    """Mixed into each C++ optimizer class below: builds it from `params` (tensors or group
    dicts) and `defaults` as torch.optim.Optimizer does."""

    _cpp_keys = ()

    def _build(self, cpp_class, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                            "anneal.Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = dict(defaults)
        first = self._normalise(groups[0])
        cpp_class.__init__(self, first["params"], **self._cpp_args(first))
        self.param_groups = [_ParamGroup(self, 0, first)]
        for g in groups[1:]:
            self.add_param_group(g)

    def _normalise(self, group):
        if not isinstance(group, dict):
            raise TypeError(f"param group must be a dict, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError("a parameter group needs a 'params' entry")
        g = dict(group)
        ps = g["params"]
        g["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in g["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
        for k, v in self.defaults.items():
            g.setdefault(k, v)
        return g

    def _cpp_args(self, group):
        """The keyword arguments of the C++ constructor for a group."""
        out = {}
        for k in self._ctor_keys:
            if k in group:
                out[k] = tuple(group[k]) if k == "betas" else group[k]
        return out

    def add_param_group(self, param_group):
        g = self._normalise(param_group)
        options = {}
        for k, v in g.items():
            if k in self._cpp_keys:
                options.update(_to_cpp(k, v))
        self._add_param_group(g["params"], options)
        self.param_groups.append(_ParamGroup(self, len(self.param_groups), g))

    @property
    def state(self):
        """Per-parameter state, keyed by the parameter (as optimizer.state[p]['exp_avg'])."""
        return _StateView(self)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with _C_enable_grad():
                loss = closure()
        super().step()  # the C++ class's, next after this mix-in
        return loss

    def state_dict(self):
        groups, state = self._state_dict()
        out_groups, start = [], 0
        for i, g in enumerate(self.param_groups):
            entry = {k: g[k] for k in g.keys() if k != "params"}
            n = len(dict.__getitem__(g, "params"))
            entry["params"] = list(range(start, start + n))
            start += n
            out_groups.append(entry)
        return {"state": {int(k): dict(v) for k, v in state.items()}, "param_groups": out_groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(dict.__getitem__(mine, "params")) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        cpp_groups = []
        for i, theirs in enumerate(groups):
            options = dict(self._options(i))
            for k, v in theirs.items():
                if k in self._cpp_keys:
                    options.update(_to_cpp(k, v))
            cpp_groups.append(options)
        # PyTorch numbers state by position across the groups; so does the C++ side
        index_of = {}
        pos = 0
        for theirs in groups:
            for pid in theirs["params"]:
                index_of[pid] = pos
                pos += 1
        state = {index_of.get(int(k), int(k)): {sk: sv for sk, sv in v.items() if isinstance(sv, Tensor)}
                 for k, v in state_dict["state"].items()}
        for pid, v in state_dict["state"].items():  # PyTorch keeps Adam's step as a tensor or a number
            st = state.get(index_of.get(int(pid), int(pid)))
            if st is not None and "step" in v and not isinstance(v["step"], Tensor):
                st["step"] = _C.tensor(float(v["step"]))
        self._load_state_dict(cpp_groups, state)
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    dict.__setitem__(mine, k, v)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g.keys() if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _C_enable_grad():
    import anneal
    return anneal.enable_grad()


class _StateView:
    def __init__(self, opt):
        self._opt = opt

    def __getitem__(self, p):
        return self._opt._state_of(p)

    def __contains__(self, p):
        return bool(self._opt._state_of(p))

    def __len__(self):
        return sum(1 for g in self._opt.param_groups for p in dict.__getitem__(g, "params") if self._opt._state_of(p))

    def get(self, p, default=None):
        s = self._opt._state_of(p)
        return s if s else default


def _check(name, ok, value):
    if not ok:
        raise ValueError(f"Invalid {name}: {value}")


def _check_adam(name, lr, betas, eps, maximize):
    _check("learning rate", lr >= 0.0, lr)
    _check("epsilon value", eps >= 0.0, eps)
    _check("beta parameter at index 0", 0.0 <= betas[0] < 1.0, betas[0])
    _check("beta parameter at index 1", 0.0 <= betas[1] < 1.0, betas[1])
    if maximize:
        raise NotImplementedError(f"{name}(maximize=True) is not supported yet")


class SGD(_PyTorchOptimizer, _C.optim.SGD):
    _cpp_keys = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
    _ctor_keys = _cpp_keys

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        _check("learning rate", lr >= 0.0, lr)
        _check("momentum value", momentum >= 0.0, momentum)
        _check("weight_decay value", weight_decay >= 0.0, weight_decay)
        self._build(_C.optim.SGD, params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                               weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))


class Adam(_PyTorchOptimizer, _C.optim.Adam):
    _cpp_keys = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _ctor_keys = _cpp_keys

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False, fused=None):
        _check_adam("Adam", lr, betas, eps, maximize)
        self._build(_C.optim.Adam, params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                                amsgrad=amsgrad))


class AdamW(_PyTorchOptimizer, _C.optim.AdamW):
    _cpp_keys = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _ctor_keys = _cpp_keys

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        _check_adam("AdamW", lr, betas, eps, maximize)
        self._build(_C.optim.AdamW, params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                                 amsgrad=amsgrad))


class RMSprop(_PyTorchOptimizer, _C.optim.RMSprop):
    _cpp_keys = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")
    _ctor_keys = _cpp_keys

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 foreach=None, maximize=False, differentiable=False):
        _check("learning rate", lr >= 0.0, lr)
        _check("epsilon value", eps >= 0.0, eps)
        self._build(_C.optim.RMSprop, params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                                   momentum=momentum, centered=centered))


class Adagrad(_PyTorchOptimizer, _C.optim.Adagrad):
    _cpp_keys = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _ctor_keys = _cpp_keys

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False):
        _check("learning rate", lr >= 0.0, lr)
        self._build(_C.optim.Adagrad, params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                                   initial_accumulator_value=initial_accumulator_value, eps=eps))


Optimizer = _C.optim.Optimizer
del math
