"""anneal.nn.utils.rnn: padding and packing of variable-length batches, as
torch.nn.utils.rnn. A PackedSequence holds the time-major concatenation of the sequences'
valid steps, longest sequence first (batch_sizes[t]: how many sequences are still running
at step t); anneal's RNN, LSTM and GRU take it and return one."""
from collections import namedtuple

import anneal
from anneal import _C
from anneal._C import Tensor

def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    rest = tuple(sequences[0].shape[1:])
    out = []
    for s in sequences:
        extra = longest - s.shape[0]
        if extra:
            pad = _C.full((extra,) + rest, padding_value, dtype=s.dtype)
            s = _C.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        out.append(s)
    return _C.stack(out, 0 if batch_first else 1)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """data [sum of lengths, *], batch_sizes int64 [T] (on the CPU), sorted_indices and
    unsorted_indices int64 [B] (None when the batch came sorted)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise ValueError("PackedSequence needs batch_sizes (build one with pack_padded_sequence or pack_sequence)")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        idx = [None if t is None else t.to(data.device) for t in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, *idx)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def double(self):
        return self._replace(data=self.data.double())

    def float(self):
        return self._replace(data=self.data.float())

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return False


def _invert(permutation):
    out = anneal.empty_like(permutation)
    out.scatter_(0, permutation, anneal.arange(permutation.numel(), dtype=permutation.dtype, device=permutation.device))
    return out


def _lengths_list(lengths):
    if isinstance(lengths, Tensor):
        if lengths.dim() != 1:
            raise ValueError(f"lengths must be a 1-D tensor, got {lengths.dim()}-D")
        return [int(v) for v in lengths.cpu().tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """input [T, B, *] (or [B, T, *] with batch_first) padded; lengths: B valid lengths."""
    lens = _lengths_list(lengths)
    x = input.transpose(0, 1) if batch_first else input
    T, B = x.shape[0], x.shape[1]
    if len(lens) != B:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} (batch_size={B})")
    if any(n <= 0 for n in lens):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    if max(lens) > T:
        raise RuntimeError(f"lengths ({max(lens)}) exceed the padded length ({T})")
    if enforce_sorted:
        if any(lens[i] < lens[i + 1] for i in range(B - 1)):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        order, sorted_indices = list(range(B)), None
    else:
        order = sorted(range(B), key=lambda i: -lens[i])  # stable: ties keep their order, as PyTorch
        sorted_indices = anneal.tensor(order, dtype=anneal.int64, device=x.device)
        x = x.index_select(1, sorted_indices)
    slens = [lens[i] for i in order]
    batch_sizes = [sum(1 for n in slens if n > t) for t in range(slens[0])]
    data = _C.cat([x[t, :b] for t, b in enumerate(batch_sizes)], 0)
    return PackedSequence(data, anneal.tensor(batch_sizes, dtype=anneal.int64), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded [T, B, *], lengths int64 [B])."""
    sizes = [int(b) for b in sequence.batch_sizes.tolist()]
    T, B = len(sizes), sizes[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence ({T}), got "
                             f"total_length={total_length}")
        T = total_length
    out = _padded_sorted(sequence.data, sizes, T, padding_value)
    lengths = [sum(1 for b in sizes if b > i) for i in range(B)]
    if sequence.unsorted_indices is not None:
        out = out.index_select(1, sequence.unsorted_indices)
        lengths = [lengths[i] for i in sequence.unsorted_indices.cpu().tolist()]
    if batch_first:
        out = out.transpose(0, 1)
    return out, anneal.tensor(lengths, dtype=anneal.int64)


def _padded_sorted(data, sizes, T, padding_value):
    """[T, B, *] from packed data, sequences in their sorted order."""
    B, rest = sizes[0], tuple(data.shape[1:])
    steps, start = [], 0
    for b in sizes:
        step = data[start:start + b]
        if b < B:
            step = _C.cat([step, anneal.full((B - b,) + rest, padding_value, dtype=data.dtype, device=data.device)], 0)
        steps.append(step)
        start += b
    for _ in range(T - len(sizes)):
        steps.append(anneal.full((B,) + rest, padding_value, dtype=data.dtype, device=data.device))
    return _C.stack(steps, 0)


def pack_sequence(sequences, enforce_sorted=True):
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :n] for i, n in enumerate(_lengths_list(lengths))]


def unpack_sequence(packed_sequences):
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
