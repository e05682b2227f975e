"""torch.nn's module classes, as anneal defines them (see each file)."""
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .layers import *  # noqa: F401,F403
from .layers import _BatchNorm, _ConvNd  # noqa: F401
from .loss import *  # noqa: F401,F403
from .loss import _Loss, _WeightedLoss  # noqa: F401
from .module import Module, Parameter, UninitializedParameter  # noqa: F401
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: F401
from .transformer import (  # noqa: F401
    MultiheadAttention, NonDynamicallyQuantizableLinear, Transformer, TransformerDecoder, TransformerDecoderLayer,
    TransformerEncoder, TransformerEncoderLayer)
