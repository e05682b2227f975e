"""anneal.nn.utils.rnn: pad_sequence and friends. anneal's RNNs take padded batches;
pack_padded_sequence is not offered yet (the error says so)."""
from anneal import _C


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


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    raise NotImplementedError("pack_padded_sequence is not supported yet: anneal's RNNs take the padded batch")


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    raise NotImplementedError("pad_packed_sequence is not supported yet: anneal's RNNs take the padded batch")


class PackedSequence(tuple):
    def __new__(cls, *args, **kwargs):
        raise NotImplementedError("PackedSequence is not supported yet: anneal's RNNs take the padded batch")
