"""The recurrent cells' fused gate ops (anneal.functional.lstm_cell_gates / gru_cell_gates,
used by nn.RNN/LSTM/GRU and their cells): values against PyTorch's LSTMCell/GRUCell
formulas, first derivatives against central finite differences, second derivatives
(create_graph) against the same formulas written with PyTorch ops, and the errors."""
import numpy as np
import pytest
import torch

import anneal

AF = anneal.functional
rng = np.random.default_rng(3)


def torch_lstm(gates, c):
    i, f, g, o = gates.chunk(4, -1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c2), c2


def torch_gru(xg, hg, h):
    xr, xz, xn = xg.chunk(3, -1)
    hr, hz, hn = hg.chunk(3, -1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def lstm_sum(a, probe_h, probe_c):
    h, c = AF.lstm_cell_gates(*a)
    return (h * probe_h).sum() + (c * probe_c).sum()


def finite_difference(f, arrays, eps=1e-6):
    """d f / d arrays[k] by central differences, for each k."""
    out = []
    for k, arr in enumerate(arrays):
        g = np.zeros_like(arr)
        for idx in np.ndindex(*arr.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (f(plus) - f(minus)) / (2 * eps)
        out.append(g)
    return out


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 3, 2), (0, 3)])
def test_lstm_gates_values_and_gradients(shape):
    H = shape[-1]
    g0 = rng.standard_normal(shape[:-1] + (4 * H,))
    c0 = rng.standard_normal(shape)
    ph, pc = rng.standard_normal(shape), rng.standard_normal(shape)
    ga, ca = (anneal.tensor(x, dtype=anneal.float64).requires_grad_(True) for x in (g0, c0))
    h, c = AF.lstm_cell_gates(ga, ca)
    assert "LstmCellGates" in str(h.grad_fn)
    th, tc = torch_lstm(torch.tensor(g0), torch.tensor(c0))
    np.testing.assert_allclose(h.detach().numpy(), th.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c.detach().numpy(), tc.numpy(), rtol=1e-13, atol=1e-15)
    ((h * anneal.tensor(ph)).sum() + (c * anneal.tensor(pc)).sum()).backward()
    fd = finite_difference(
        lambda a: float(lstm_sum([anneal.tensor(x) for x in a], anneal.tensor(ph), anneal.tensor(pc))), [g0, c0])
    np.testing.assert_allclose(ga.grad.numpy(), fd[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ca.grad.numpy(), fd[1], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 3, 2), (0, 3)])
def test_gru_gates_values_and_gradients(shape):
    H = shape[-1]
    x0, hg0 = (rng.standard_normal(shape[:-1] + (3 * H,)) for _ in range(2))
    h0, probe = rng.standard_normal(shape), rng.standard_normal(shape)
    xs = [anneal.tensor(a, dtype=anneal.float64).requires_grad_(True) for a in (x0, hg0, h0)]
    out = AF.gru_cell_gates(*xs)
    assert "GruCellGates" in str(out.grad_fn)
    np.testing.assert_allclose(out.detach().numpy(), torch_gru(*map(torch.tensor, (x0, hg0, h0))).numpy(),
                               rtol=1e-13, atol=1e-15)
    (out * anneal.tensor(probe)).sum().backward()
    fd = finite_difference(lambda a: float((AF.gru_cell_gates(*map(anneal.tensor, a)) * anneal.tensor(probe)).sum()),
                           [x0, hg0, h0])
    for got, want in zip(xs, fd):
        np.testing.assert_allclose(got.grad.numpy(), want, rtol=1e-6, atol=1e-8)


def test_second_derivatives_match_pytorch():
    g0, c0 = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    x0, hg0, h0 = rng.standard_normal((3, 6)), rng.standard_normal((3, 6)), rng.standard_normal((3, 2))
    results = {}
    for lib, lstm, gru in ((anneal, AF.lstm_cell_gates, AF.gru_cell_gates), (torch, torch_lstm, torch_gru)):
        leaf = [lib.tensor(a, dtype=lib.float64).requires_grad_(True) for a in (g0, c0, x0, hg0, h0)]
        h, c = lstm(leaf[0], leaf[1])
        loss = (h * h).sum() + (c * h).sum() + (gru(leaf[2], leaf[3], leaf[4]) ** 2).sum()
        grads = lib.autograd.grad(loss, leaf, create_graph=True)
        second = lib.autograd.grad(sum((g * g).sum() for g in grads), leaf)
        results[lib.__name__] = [t.detach().numpy() for t in list(grads) + list(second)]
    for a, t in zip(results["anneal"], results["torch"]):
        np.testing.assert_allclose(a, t, rtol=1e-10, atol=1e-12)


def test_non_contiguous_inputs_and_float32():
    g0 = rng.standard_normal((8, 5)).astype(np.float32)  # transposed below: [5, 8] non-contiguous
    c0 = rng.standard_normal((5, 2)).astype(np.float32)
    ga = anneal.tensor(np.ascontiguousarray(g0)).transpose(0, 1).requires_grad_(False)
    assert not ga.is_contiguous()
    h, c = AF.lstm_cell_gates(ga, anneal.tensor(c0))
    th, tc = torch_lstm(torch.tensor(g0).t(), torch.tensor(c0))
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.numpy(), tc.numpy(), rtol=1e-5, atol=1e-6)


def test_only_one_output_used_and_mixed_dtypes():
    g0, c0 = rng.standard_normal((2, 4)), rng.standard_normal((2, 1))
    ga, ca = (anneal.tensor(a, dtype=anneal.float64).requires_grad_(True) for a in (g0, c0))
    h, _ = AF.lstm_cell_gates(ga, ca)
    h.sum().backward()  # c' unused: its gradient is zero
    tg, tcc = (torch.tensor(a).requires_grad_(True) for a in (g0, c0))
    torch_lstm(tg, tcc)[0].sum().backward()
    np.testing.assert_allclose(ga.grad.numpy(), tg.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ca.grad.numpy(), tcc.grad.numpy(), rtol=1e-12)
    # float32 gates with a float64 state: the composite's promotion (as PyTorch's ops)
    h, c = AF.lstm_cell_gates(anneal.tensor(g0, dtype=anneal.float32), anneal.tensor(c0, dtype=anneal.float64))
    assert c.dtype == anneal.float64


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"gates of shape \[\.\.\., 4 \* H\]"):
        AF.lstm_cell_gates(anneal.zeros(2, 7), anneal.zeros(2, 2))
    with pytest.raises(ValueError, match="same number of dims"):
        AF.lstm_cell_gates(anneal.zeros(8), anneal.zeros(2, 2))
    with pytest.raises(ValueError, match=r"\[\.\.\., 3 \* H\]"):
        AF.gru_cell_gates(anneal.zeros(3, 6), anneal.zeros(3, 5), anneal.zeros(3, 2))
    with pytest.raises(ValueError, match="same number of dims|4 \\* H"):
        AF.lstm_cell_gates(anneal.zeros(3, 8), anneal.zeros(2, 2))
    with pytest.raises(TypeError, match="floating"):
        AF.lstm_cell_gates(anneal.zeros(2, 8, dtype=anneal.int64), anneal.zeros(2, 2, dtype=anneal.int64))
