"""RNN, LSTM and GRU (and their cells) as torch.nn's: multi-layer, bidirectional,
batch_first, dropout between layers, initial states, PyTorch's parameter names
(weight_ih_l0, bias_hh_l1_reverse, ...) and gate order (LSTM i, f, g, o; GRU r, z, n).

The input projection of every time step is one matrix product per layer and direction;
the recurrence runs step by step on anneal's ops, so backward is the ordinary autograd."""
import math

from anneal import _C
from anneal.nn import functional as F
from anneal.nn import init

from .module import Module, Parameter

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_utils():
    """anneal.nn.utils.rnn (imported on first use: it imports anneal.nn itself)."""
    from anneal.nn.utils import rnn
    return rnn


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError("hidden_size must be a positive integer")
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or not 1 <= num_layers <= 100_000:
            raise ValueError(f"num_layers must be an int between 1 and 100000, got {num_layers!r}")
        if not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        if proj_size:
            raise NotImplementedError("LSTM(proj_size=...) is not supported yet")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gates = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        kw = dict(dtype=dtype or _C.float32, device="cpu" if device is None else str(device))
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(dirs):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else hidden_size * dirs
                names = [("weight_ih", (gates, in_size)), ("weight_hh", (gates, hidden_size))]
                if bias:
                    names += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for base, shape in names:
                    setattr(self, base + suffix, Parameter(_C.zeros(*shape, **kw)))
                    self._flat_weights_names.append(base + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for name in self._flat_weights_names:
            init.uniform_(getattr(self, name), -stdv, stdv)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    def flatten_parameters(self):  # cuDNN's packing: nothing to do here
        pass

    def _cell(self, x_proj, h, c, w_hh, b_hh):
        """One step from the precomputed input projection x_proj = x W_ih^T + b_ih."""
        hh = F.linear(h, w_hh, b_hh)
        if self.mode == "LSTM":  # the gates in one fused op (forward and backward)
            return _C.functional.lstm_cell_gates(x_proj + hh, c)
        if self.mode == "GRU":
            return _C.functional.gru_cell_gates(x_proj, hh, h), None
        pre = x_proj + hh
        return (_C.tanh(pre) if self.mode == "RNN_TANH" else _C.relu(pre)), None

    def _run_direction(self, x, h, c, layer, reverse, batch_sizes=None):
        """One layer and direction over x [T, N, F]. With batch_sizes (a packed batch,
        sequences sorted longest first) step t updates only its first batch_sizes[t] rows;
        the others keep their state, so each sequence's final state is its last step's
        (and a reversed pass starts each sequence at its own last step)."""
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        w_ih, w_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        b_ih = getattr(self, "bias_ih" + suffix) if self.bias else None
        b_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
        steps, n = x.shape[0], x.shape[1]
        proj = F.linear(x, w_ih, b_ih)  # (T, N, gates): every step's input projection at once
        outs = [None] * steps
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        for t in order:
            b = n if batch_sizes is None else batch_sizes[t]
            if b == n:
                h, c = self._cell(proj[t], h, c, w_hh, b_hh)
                outs[t] = h
                continue
            h_b, c_b = self._cell(proj[t, :b], h[:b], None if c is None else c[:b], w_hh, b_hh)
            outs[t] = _C.cat([h_b, _C.zeros(n - b, h.shape[1], dtype=h.dtype, device=str(h.device))], 0)
            h = _C.cat([h_b, h[b:]], 0)
            c = None if c is None else _C.cat([c_b, c[b:]], 0)
        out = _C.stack(outs, 0) if steps else _C.zeros(0, x.shape[1], self.hidden_size, dtype=x.dtype)
        return out, h, c

    def forward(self, input, hx=None):
        if isinstance(input, _rnn_utils().PackedSequence):
            return self._forward_packed(input, hx)
        return self._forward(input, hx)

    def _forward_packed(self, packed, hx):
        utils = _rnn_utils()
        sizes = [int(b) for b in packed.batch_sizes.tolist()]
        x = utils._padded_sorted(packed.data, sizes, len(sizes), 0.0)  # [T, B, F], longest first
        order = packed.sorted_indices
        if hx is not None and order is not None:  # the caller's states are in batch order
            hx = tuple(h.index_select(1, order) for h in hx) if self.mode == "LSTM" else hx.index_select(1, order)
        out, state = self._forward(x, hx, batch_sizes=sizes)
        data = _C.cat([out[t, :b] for t, b in enumerate(sizes)], 0)
        back = packed.unsorted_indices
        if back is not None:
            state = tuple(h.index_select(1, back) for h in state) if self.mode == "LSTM" else state.index_select(1, back)
        return utils.PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), state

    def _forward(self, input, hx=None, batch_sizes=None):
        batched = input.dim() == 3
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first and batch_sizes is None:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{x.shape[-1]}")
        dirs = 2 if self.bidirectional else 1
        n = x.shape[1]
        zeros = _C.zeros(self.num_layers * dirs, n, self.hidden_size, dtype=x.dtype, device=str(x.device))
        if self.mode == "LSTM":
            if hx is None:
                h0, c0 = zeros, zeros
            else:
                h0, c0 = hx
                if not batched:
                    h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        else:
            h0 = zeros if hx is None else (hx if batched else hx.unsqueeze(1))
            c0 = None
        expected = (self.num_layers * dirs, n, self.hidden_size)
        if tuple(h0.shape) != expected:
            raise RuntimeError(f"Expected hidden size {expected}, got {list(h0.shape)}")
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                out, h, c = self._run_direction(layer_input, h0[k], c0[k] if c0 is not None else None, layer, d == 1,
                                                batch_sizes)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = outs[0] if dirs == 1 else _C.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        if batched and self.batch_first and batch_sizes is None:
            output = output.transpose(0, 1)
        hn = _C.stack(h_n, 0)
        if not batched:
            output, hn = output.squeeze(1), hn.squeeze(1)
        if self.mode == "LSTM":
            cn = _C.stack(c_n, 0)
            return output, (hn, cn if batched else cn.squeeze(1))
        return output, hn

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    def __init__(self, *args, nonlinearity="tanh", **kwargs):
        if len(args) > 3:  # (input_size, hidden_size, num_layers, nonlinearity, ...) positionally
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        gates = _GATES[mode] * hidden_size
        kw = dict(dtype=dtype or _C.float32, device="cpu" if device is None else str(device))
        self.weight_ih = Parameter(_C.zeros(gates, input_size, **kw))
        self.weight_hh = Parameter(_C.zeros(gates, hidden_size, **kw))
        if bias:
            self.bias_ih = Parameter(_C.zeros(gates, **kw))
            self.bias_hh = Parameter(_C.zeros(gates, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        stdv = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _step(self, input, h, c):
        return RNNBase._cell(self, F.linear(input, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)

    def _zeros(self, input):
        shape = (input.shape[0], self.hidden_size) if input.dim() == 2 else (self.hidden_size,)
        return _C.zeros(*shape, dtype=input.dtype, device=str(input.device))


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias, device,
                         dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, self._zeros(input) if hx is None else hx, None)[0]


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        h, c = (self._zeros(input), self._zeros(input)) if hx is None else hx
        return self._step(input, h, c)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, self._zeros(input) if hx is None else hx, None)[0]
