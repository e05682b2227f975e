"""Packed variable-length batches (anneal.nn.utils.rnn) through RNN, LSTM and GRU, against
Debian's PyTorch from the same weights: the packed output, the padded output, the final
states in the caller's batch order, and the gradients of inputs, states and weights."""
import numpy as np
import pytest
import torch

import anneal

rng = np.random.default_rng(11)


def lib_rnn(lib, mode, **kw):
    return {"LSTM": lib.nn.LSTM, "GRU": lib.nn.GRU, "RNN": lib.nn.RNN}[mode](**kw)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("enforce_sorted,batch_first,with_state", [(True, False, False), (False, True, True),
                                                                   (False, False, True)])
def test_packed_batches_match_pytorch(mode, bidirectional, enforce_sorted, batch_first, with_state):
    B, T, F, H, L = 4, 6, 3, 5, 2
    lengths = [6, 4, 4, 1] if enforce_sorted else [3, 6, 1, 4]
    x0 = rng.standard_normal((B, T, F) if batch_first else (T, B, F))
    D = 2 if bidirectional else 1
    h00, c00 = rng.standard_normal((L * D, B, H)), rng.standard_normal((L * D, B, H))
    kw = dict(input_size=F, hidden_size=H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first)
    tm = lib_rnn(torch, mode, **kw).double()
    am = lib_rnn(anneal, mode, **kw).double()
    am.load_state_dict({k: anneal.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    results = {}
    for lib, m in (("torch", tm), ("anneal", am)):
        L_ = torch if lib == "torch" else anneal
        x = L_.tensor(x0).requires_grad_(True)
        packed = L_.nn.utils.rnn.pack_padded_sequence(x, L_.tensor(lengths), batch_first=batch_first,
                                                      enforce_sorted=enforce_sorted)
        states = []
        if with_state:
            states = [L_.tensor(h00).requires_grad_(True)] + ([L_.tensor(c00).requires_grad_(True)]
                                                              if mode == "LSTM" else [])
            out, state = m(packed, tuple(states) if mode == "LSTM" else states[0])
        else:
            out, state = m(packed)
        padded, out_lengths = L_.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=T)
        hn = state[0] if mode == "LSTM" else state
        probe = L_.tensor(np.linspace(-1, 1, int(np.prod(padded.shape))).reshape(tuple(padded.shape)))
        ((padded * probe).sum() + (hn * hn).sum()).backward()
        results[lib] = dict(data=out.data, batch_sizes=out.batch_sizes, padded=padded, lengths=out_lengths, hn=hn,
                            gx=x.grad, **{f"gs{i}": s.grad for i, s in enumerate(states)},
                            **{"g." + n: p.grad for n, p in m.named_parameters()})
        if mode == "LSTM":
            results[lib]["cn"] = state[1]
    assert sorted(results["anneal"]) == sorted(results["torch"])
    for k, t in results["torch"].items():
        a = results["anneal"][k]
        np.testing.assert_allclose(a.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_packing_helpers_match_pytorch():
    seqs = [rng.standard_normal((n, 2)) for n in (2, 5, 3)]
    tp = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    ap = anneal.nn.utils.rnn.pack_sequence([anneal.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(ap.data.numpy(), tp.data.numpy())
    np.testing.assert_array_equal(ap.batch_sizes.numpy(), tp.batch_sizes.numpy())
    np.testing.assert_array_equal(ap.sorted_indices.numpy(), tp.sorted_indices.numpy())
    np.testing.assert_array_equal(ap.unsorted_indices.numpy(), tp.unsorted_indices.numpy())
    for a, t in zip(anneal.nn.utils.rnn.unpack_sequence(ap), torch.nn.utils.rnn.unpack_sequence(tp)):
        np.testing.assert_array_equal(a.numpy(), t.numpy())
    pa, la = anneal.nn.utils.rnn.pad_packed_sequence(ap, batch_first=True, padding_value=-1.0)
    pt, lt = torch.nn.utils.rnn.pad_packed_sequence(tp, batch_first=True, padding_value=-1.0)
    np.testing.assert_array_equal(pa.numpy(), pt.numpy())
    np.testing.assert_array_equal(la.numpy(), lt.numpy())


def test_bad_lengths_are_errors():
    x = anneal.zeros(4, 3, 2)
    pack = anneal.nn.utils.rnn.pack_padded_sequence
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack(x, [1, 3, 2])
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack(x, [3, 0, 0], enforce_sorted=False)
    with pytest.raises(ValueError, match="batch_size"):
        pack(x, [3, 2])
    with pytest.raises(RuntimeError, match="exceed"):
        pack(x, [5, 2, 1])
