"""anneal: a deep-learning training framework; this package is its C++ core for Python."""
import contextlib
import functools
import sys

from anneal._C import *  # noqa: F401,F403  (Tensor, dtypes, factories, math)
from anneal._C import Tensor, autograd, cuda, data, train  # noqa: F401
from anneal import _C
from anneal._C import _set_grad_enabled, is_grad_enabled
import anneal.nn as nn  # noqa: E402  (the package python/anneal/nn; `from anneal import nn` would find _C.nn)
from anneal.nn import functional  # noqa: E402  (anneal.functional is anneal.nn.functional)
import anneal.optim as optim  # noqa: E402  (PyTorch's interface over _C.optim)

__version__ = _C.__version__  # one source: project(anneal VERSION ...) in CMakeLists.txt

# DataLoader workers stop before the interpreter is torn down: a script that ends, raises
# or is interrupted mid-epoch exits cleanly instead of aborting inside a worker thread.
import atexit as _atexit  # noqa: E402

_atexit.register(_C.data._shutdown_loaders)


def _as_method(fn):
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    return method


# Functions that are also Tensor methods (x.sum(1), x.exp(), ...), one implementation each.
for _name in ("sum", "mean", "var", "amax", "max", "argmax", "softmax", "log_softmax", "pow", "clamp", "exp", "log",
              "sqrt", "rsqrt", "abs", "neg", "sin", "cos", "tanh", "sigmoid", "relu", "square", "log1p", "expm1",
              "floor", "ceil", "sign", "erf", "isnan", "logical_not", "matmul", "maximum", "minimum", "min", "argmin", "all",
              "any", "round", "reciprocal", "atan2", "lerp", "masked_fill", "unflatten", "logical_and", "logical_or"):
    setattr(Tensor, _name, _as_method(globals()[_name]))
del _name


class _GradMode(contextlib.ContextDecorator):
    """Sets whether operations record autograd graphs inside a `with` block or a
    decorated function, restoring the previous mode afterwards."""

    def __init__(self, enabled):
        self._enabled = enabled

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._prev)
        return False


def no_grad(fn=None):
    """`with anneal.no_grad():` or `@anneal.no_grad()` / `@anneal.no_grad`."""
    if callable(fn):
        return _GradMode(False)(fn)
    return _GradMode(False)


def enable_grad(fn=None):
    if callable(fn):
        return _GradMode(True)(fn)
    return _GradMode(True)


class set_grad_enabled(_GradMode):
    """`anneal.set_grad_enabled(False)` switches at once (as a call) and, as a context
    manager, restores the previous mode when the block ends."""

    def __init__(self, mode):
        super().__init__(bool(mode))
        self._prev = is_grad_enabled()
        _set_grad_enabled(self._enabled)

    def __enter__(self):
        return self


def inference_mode(mode=True):
    """As no_grad (anneal has no separate inference tensors); `@anneal.inference_mode()`
    and `with anneal.inference_mode():` both work."""
    if callable(mode):
        return _GradMode(False)(mode)
    return _GradMode(not mode)


def is_inference_mode_enabled():
    return not is_grad_enabled()


class autocast(contextlib.ContextDecorator):
    """`with anneal.autocast("cuda", dtype=anneal.bfloat16):` runs matmul, linear, conv and
    attention in the low dtype and softmax, normalisation and losses in float32 (as
    torch.autocast); also a decorator."""

    def __init__(self, device_type, dtype=None, enabled=True):
        self.device_type = device_type
        self.dtype = bfloat16 if dtype is None else dtype  # noqa: F405
        self.enabled = enabled

    def __enter__(self):
        self._guard = _C._AutocastGuard(self.device_type, self.dtype, self.enabled)
        return self

    def __exit__(self, *exc):
        del self._guard  # restores the enclosing scope's state
        return False


class _StreamScope(contextlib.ContextDecorator):
    """`with anneal.cuda.stream(s):` queues this thread's work for s's device on s."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        self._guard = _C.cuda._StreamGuard(self.stream)
        return self.stream

    def __exit__(self, *exc):
        del self._guard
        return False


class _GraphScope(contextlib.ContextDecorator):
    """`with anneal.cuda.graph(g):` captures the block's device work into CUDAGraph g
    (as torch.cuda.graph); g.replay() runs it again. If the block raises, the capture is
    closed and g stays empty."""

    def __init__(self, cuda_graph):
        self.cuda_graph = cuda_graph

    def __enter__(self):
        self.cuda_graph.capture_begin()
        return self.cuda_graph

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.cuda_graph.capture_end()
        else:
            try:
                self.cuda_graph.capture_end()
            except RuntimeError:
                pass  # the block's own error is the one to report
        return False


from anneal import _surface  # noqa: E402

_surface._install(globals())
from anneal._device import device  # noqa: E402,F401

cuda.stream = _StreamScope
cuda.graph = _GraphScope
autograd.no_grad = no_grad
autograd.enable_grad = enable_grad
autograd.set_grad_enabled = set_grad_enabled
autograd.inference_mode = inference_mode


def _variable(data, requires_grad=False, volatile=False):
    """autograd.Variable, deprecated in PyTorch since 0.4: the tensor itself."""
    import warnings
    warnings.warn("anneal.autograd.Variable is deprecated: use the tensor itself", DeprecationWarning, stacklevel=2)
    if requires_grad and not data.requires_grad:
        data.requires_grad_(True)
    return data


autograd.Variable = _variable

from anneal import _function  # noqa: E402

autograd.Function = _function.Function
autograd.function = _function
autograd.function.FunctionCtx = _function.FunctionCtx
sys.modules[f"{__name__}.autograd.function"] = _function


class _RemovableHook:
    """What Tensor.register_hook returns: remove() turns the hook off."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, grad):
        return None if self.fn is None else self.fn(grad)

    def remove(self):
        self.fn = None


def _register_hook(self, hook):
    """Tensor.register_hook(hook): hook(grad) runs when the gradient of this tensor is
    computed and may return a replacement (or None); returns a handle with remove()."""
    handle = _RemovableHook(hook)
    self._register_hook(handle)
    return handle


Tensor.register_hook = _register_hook


class _CudaAmp:
    """anneal.cuda.amp: autocast("cuda", ...) and GradScaler under PyTorch's old names."""

    @staticmethod
    def autocast(enabled=True, dtype=None, cache_enabled=True):
        return autocast("cuda", dtype=float16 if dtype is None else dtype, enabled=enabled)  # noqa: F405

    from anneal._C.optim import GradScaler  # noqa: F401


cuda.amp = _CudaAmp
cuda.manual_seed = cuda.manual_seed_all = lambda seed: manual_seed(seed)  # noqa: F405
cuda.seed = cuda.seed_all = lambda: None
if not hasattr(cuda, "device_count"):
    cuda.device_count = lambda: 0
cuda.synchronize = getattr(cuda, "synchronize", lambda device=None: None)
cuda.empty_cache = getattr(cuda, "empty_cache", lambda: None)
amp = _CudaAmp
amp.GradScaler = _C.optim.GradScaler

from anneal import backends, utils  # noqa: E402,F401
from anneal._generator import Generator  # noqa: E402,F401
from anneal.serialization import load, save  # noqa: E402,F401

# The extension's submodules importable by name (import anneal.optim, anneal.nn.functional).
for _name, _mod in (("functional", functional), ("autograd", autograd), ("cuda", cuda), ("data", data),
                    ("train", train), ("cuda.amp", cuda.amp)):
    sys.modules[f"{__name__}.{_name}"] = _mod
del _name, _mod
