"""anneal.nn: modules as torch.nn's (Python classes over anneal's C++ Module, so C++ and
Python modules mix in one tree), init, utils, functional, parallel; anneal's own C++
models (GPT, TransformerBlock, make_model) and the safetensors reader/writer.

Subclass `anneal.nn.Module`, assign `anneal.nn.Parameter`s and sub-modules as attributes
(they are registered, as in PyTorch) and define `forward`."""
from anneal import _C
from anneal._C.nn import GPT, TransformerBlock, load_safetensors, make_model, save_safetensors  # noqa: F401

from .modules import tree as _tree

_tree.install()

from . import functional, init, utils  # noqa: E402,F401
from .modules import *  # noqa: E402,F401,F403
from .modules import Module, Parameter  # noqa: E402,F401
from .modules.layers import _BatchNorm, _ConvNd  # noqa: E402,F401
from .modules.loss import _Loss, _WeightedLoss  # noqa: E402,F401

# the C++ layers stay reachable for code written against them
cpp = _C.nn
