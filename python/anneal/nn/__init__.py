"""anneal.nn: modules (C++ layers and Python-defined ones in one tree) and the functional API.

Subclass `anneal.nn.Module`, assign `anneal.nn.Parameter`s and sub-modules as attributes
(they are registered, as in PyTorch) and define `forward`."""
from anneal import _C
from anneal._C import functional  # noqa: F401
from anneal._C.nn import (  # noqa: F401
    GELU, GPT, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Embedding, Flatten,
    Identity, LayerNorm, Linear, MaxPool2d, ModuleList, MultiheadAttention, ReLU, Sequential, SiLU, Sigmoid, Tanh,
    TransformerBlock, load_safetensors, make_model, save_safetensors)


def Parameter(data, requires_grad=True):
    """Marks a tensor as a parameter: assigned to a Module attribute, it is registered."""
    t = data.detach()
    t.requires_grad = requires_grad
    t._is_parameter = True
    return t


class Module(_C.nn.Module):
    def __init__(self):
        _C.nn.Module.__init__(self)

    def __setattr__(self, name, value):
        if isinstance(value, _C.Tensor) and getattr(value, "_is_parameter", False):
            value = self.register_parameter(name, value, value.requires_grad)
        elif isinstance(value, _C.nn.Module):
            self.add_module(name, value)
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


# C++ modules are called like Python ones (their forward runs the module's hooks).
_C.nn.Module.__call__ = lambda self, *args, **kwargs: self.forward(*args, **kwargs)
