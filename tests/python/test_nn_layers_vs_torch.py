"""Every torch.nn layer anneal.nn offers, built with the same arguments in both libraries,
PyTorch's state dict loaded into anneal's (the names must match), run on the same float64
input: outputs, input gradients and parameter gradients against PyTorch 1.13."""
import numpy as np
import pytest
import torch

import anneal

rng = np.random.default_rng(0)


def arr(*shape, positive=False):
    a = rng.standard_normal(shape)
    return np.abs(a) + 0.1 if positive else a


def check_layer(name, args, kwargs, inputs, train=True, out_index=None, atol=1e-9):
    tl = getattr(torch.nn, name)(*args, **kwargs).double()
    al = getattr(anneal.nn, name)(*args, **kwargs).double()
    tsd = tl.state_dict()
    asd = al.state_dict()
    assert list(tsd.keys()) == list(asd.keys()), f"{name}: state dict names {list(asd)} != {list(tsd)}"
    al.load_state_dict({k: anneal.tensor(v.numpy()) for k, v in tsd.items()})
    tl.train(train)
    al.train(train)
    t_in, a_in = [], []
    for x in inputs:
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            t_in.append(torch.tensor(x, requires_grad=True))
            a_in.append(anneal.tensor(x, dtype=anneal.float64).requires_grad_())
        elif isinstance(x, np.ndarray):
            t_in.append(torch.tensor(x))
            a_in.append(anneal.tensor(x))
        else:
            t_in.append(x)
            a_in.append(x)
    to, ao = tl(*t_in), al(*a_in)
    if out_index is not None:
        to, ao = to[out_index], ao[out_index]
    if isinstance(to, tuple):  # (output, state): compare the first, take gradients through all
        for t_part, a_part in zip(to, ao):
            if isinstance(t_part, tuple):
                for tp, ap in zip(t_part, a_part):
                    np.testing.assert_allclose(ap.detach().numpy(), tp.detach().numpy(), rtol=1e-7, atol=atol)
            else:
                np.testing.assert_allclose(a_part.detach().numpy(), t_part.detach().numpy(), rtol=1e-7, atol=atol)
        to, ao = to[0], ao[0]
    np.testing.assert_allclose(ao.detach().numpy(), to.detach().numpy(), rtol=1e-7, atol=atol, err_msg=name)
    if not to.requires_grad:
        return
    probe = rng.standard_normal(tuple(to.shape))
    (to * torch.tensor(probe)).sum().backward()
    (ao * anneal.tensor(probe, dtype=anneal.float64)).sum().backward()
    for t, a in zip(t_in, a_in):
        if isinstance(t, torch.Tensor) and t.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=atol, err_msg=f"{name}: input")
    tg = {n: p.grad for n, p in tl.named_parameters()}
    for n, p in al.named_parameters():
        if tg[n] is not None:
            np.testing.assert_allclose(p.grad.numpy(), tg[n].numpy(), rtol=1e-7, atol=atol, err_msg=f"{name}: {n}")


LAYERS = [
    ("Linear", (5, 3), {}, [arr(4, 5)]),
    ("Linear", (5, 3), {"bias": False}, [arr(2, 7, 5)]),
    ("Bilinear", (3, 4, 2), {}, [arr(5, 3), arr(5, 4)]),
    ("Identity", (), {}, [arr(3, 2)]),
    ("Flatten", (), {}, [arr(2, 3, 4)]),
    ("Unflatten", (1, (2, 3)), {}, [arr(4, 6)]),
    ("Conv2d", (3, 4, 3), {}, [arr(2, 3, 7, 6)]),
    ("Conv2d", (3, 4, (3, 2)), {"stride": 2, "padding": 1, "bias": False}, [arr(2, 3, 9, 8)]),
    ("Conv2d", (4, 6, 3), {"groups": 2, "dilation": 2, "padding": 2}, [arr(1, 4, 9, 9)]),
    ("Conv2d", (3, 2, 3), {"padding": "same"}, [arr(2, 3, 6, 5)]),
    ("Conv2d", (3, 2, 3), {"padding": 1, "padding_mode": "reflect"}, [arr(2, 3, 6, 5)]),
    ("Conv2d", (3, 2, 3), {"padding": 2, "padding_mode": "circular"}, [arr(1, 3, 6, 5)]),
    ("Conv1d", (3, 5, 3), {}, [arr(2, 3, 10)]),
    ("Conv1d", (3, 5, 4), {"stride": 2, "padding": 1}, [arr(2, 3, 11)]),
    ("Conv1d", (2, 2, 3), {"padding": "same", "dilation": 2}, [arr(2, 2, 9)]),
    ("ConvTranspose2d", (3, 4, 3), {}, [arr(2, 3, 5, 4)]),
    ("ConvTranspose2d", (3, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}, [arr(2, 3, 4, 4)]),
    ("ConvTranspose2d", (3, 2, 4), {"stride": 2, "padding": 1, "bias": False}, [arr(1, 3, 3, 5)]),
    ("ConvTranspose1d", (3, 2, 3), {"stride": 2}, [arr(2, 3, 5)]),
    ("MaxPool2d", (2,), {}, [arr(2, 3, 6, 6)]),
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1}, [arr(2, 3, 7, 7)]),
    ("MaxPool2d", (2,), {"ceil_mode": True}, [arr(1, 2, 5, 5)]),
    ("MaxPool1d", (3,), {"stride": 2}, [arr(2, 3, 9)]),
    ("AvgPool2d", (2,), {}, [arr(2, 3, 6, 6)]),
    ("AvgPool2d", (3,), {"stride": 1, "padding": 1}, [arr(1, 2, 5, 5)]),
    ("AvgPool1d", (2,), {}, [arr(2, 3, 8)]),
    ("AdaptiveAvgPool2d", ((1, 1),), {}, [arr(2, 3, 5, 4)]),
    ("AdaptiveAvgPool2d", (3,), {}, [arr(2, 3, 6, 9)]),
    ("AdaptiveAvgPool1d", (2,), {}, [arr(2, 3, 8)]),
    ("BatchNorm1d", (4,), {}, [arr(5, 4)]),
    ("BatchNorm1d", (4,), {"affine": False, "momentum": None}, [arr(5, 4, 3)]),
    ("BatchNorm2d", (3,), {}, [arr(2, 3, 4, 4)]),
    ("LayerNorm", ((3, 4),), {}, [arr(2, 3, 4)]),
    ("LayerNorm", (4,), {"elementwise_affine": False}, [arr(2, 3, 4)]),
    ("GroupNorm", (2, 4), {}, [arr(2, 4, 3, 3)]),
    ("InstanceNorm2d", (3,), {"affine": True}, [arr(2, 3, 4, 4)]),
    ("InstanceNorm1d", (3,), {}, [arr(2, 3, 6)]),
    ("Embedding", (10, 4), {}, [rng.integers(0, 10, (3, 5))]),
    ("Embedding", (10, 4), {"padding_idx": 0}, [np.array([[0, 3, 0], [2, 0, 9]])]),
    ("Dropout", (0.0,), {}, [arr(3, 4)]),
    ("Dropout2d", (0.5,), {}, [arr(2, 3, 4, 4)], False),
    ("ReLU", (), {}, [arr(3, 4)]),
    ("ReLU6", (), {}, [arr(3, 4) * 5]),
    ("LeakyReLU", (0.2,), {}, [arr(3, 4)]),
    ("ELU", (), {"alpha": 0.7}, [arr(3, 4)]),
    ("SELU", (), {}, [arr(3, 4)]),
    ("CELU", (), {"alpha": 1.5}, [arr(3, 4)]),
    ("GELU", (), {}, [arr(3, 4)]),
    ("GELU", (), {"approximate": "tanh"}, [arr(3, 4)]),
    ("SiLU", (), {}, [arr(3, 4)]),
    ("Mish", (), {}, [arr(3, 4)]),
    ("Hardtanh", (-0.5, 0.5), {}, [arr(3, 4)]),
    ("Hardsigmoid", (), {}, [arr(3, 4) * 4]),
    ("Hardswish", (), {}, [arr(3, 4) * 4]),
    ("Sigmoid", (), {}, [arr(3, 4)]),
    ("Tanh", (), {}, [arr(3, 4)]),
    ("LogSigmoid", (), {}, [arr(3, 4)]),
    ("Softplus", (), {"beta": 2.0}, [arr(3, 4)]),
    ("Softsign", (), {}, [arr(3, 4)]),
    ("Tanhshrink", (), {}, [arr(3, 4)]),
    ("Softmax", (), {"dim": 1}, [arr(3, 4)]),
    ("LogSoftmax", (), {"dim": -1}, [arr(2, 3, 4)]),
    ("Softmin", (), {"dim": 0}, [arr(3, 4)]),
    ("GLU", (), {}, [arr(3, 4)]),
    ("PReLU", (), {}, [arr(3, 4)]),
    ("PReLU", (3,), {"init": 0.1}, [arr(2, 3, 4)]),
    ("Threshold", (0.1, 20.0), {}, [arr(3, 4)]),
    ("Upsample", (), {"scale_factor": 2, "mode": "nearest"}, [arr(1, 2, 3, 3)]),
    ("Upsample", (), {"size": (5, 7), "mode": "nearest"}, [arr(1, 2, 3, 4)]),
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear", "align_corners": False}, [arr(1, 2, 3, 4)]),
    ("Upsample", (), {"size": (5, 6), "mode": "bilinear", "align_corners": True}, [arr(1, 2, 3, 4)]),
    ("UpsamplingNearest2d", (), {"scale_factor": 3}, [arr(1, 1, 2, 2)]),
    ("PixelShuffle", (2,), {}, [arr(1, 8, 3, 3)]),
    ("PixelUnshuffle", (2,), {}, [arr(1, 2, 4, 6)]),
    ("ZeroPad2d", ((1, 2, 0, 1),), {}, [arr(1, 2, 3, 3)]),
    ("ConstantPad1d", (2, 3.5), {}, [arr(1, 2, 4)]),
    ("ReflectionPad2d", (1,), {}, [arr(1, 2, 3, 4)]),
    ("ReplicationPad1d", ((2, 1),), {}, [arr(1, 2, 4)]),
    ("CosineSimilarity", (), {"dim": 1}, [arr(3, 5), arr(3, 5)]),
    ("PairwiseDistance", (), {}, [arr(3, 5), arr(3, 5)]),
]


@pytest.mark.parametrize("spec", LAYERS, ids=[f"{s[0]}-{i}" for i, s in enumerate(LAYERS)])
def test_layer_matches_torch(spec):
    name, args, kwargs, inputs = spec[:4]
    check_layer(name, args, kwargs, inputs, *spec[4:])


def target(kind, n, c):
    if kind == "class":
        return rng.integers(0, c, (n,))
    if kind == "prob":
        p = rng.uniform(size=(n, c))
        return p / p.sum(1, keepdims=True)
    if kind == "binary":
        return rng.uniform(size=(n, c))
    if kind == "sign":
        return np.where(rng.uniform(size=(n,)) > 0.5, 1.0, -1.0)
    return rng.standard_normal((n, c))


LOSSES = [
    ("CrossEntropyLoss", {}, "class"), ("CrossEntropyLoss", {"reduction": "sum"}, "class"),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, "class"), ("CrossEntropyLoss", {"ignore_index": 2}, "class"),
    ("CrossEntropyLoss", {"weight": "w"}, "class"), ("CrossEntropyLoss", {"weight": "w", "label_smoothing": 0.2}, "class"),
    ("CrossEntropyLoss", {}, "prob"), ("NLLLoss", {}, "class"), ("NLLLoss", {"weight": "w", "reduction": "none"}, "class"),
    ("MSELoss", {}, "real"), ("L1Loss", {"reduction": "sum"}, "real"), ("SmoothL1Loss", {"beta": 0.5}, "real"),
    ("HuberLoss", {"delta": 0.7}, "real"), ("BCEWithLogitsLoss", {}, "binary"),
    ("BCEWithLogitsLoss", {"pos_weight": "pw"}, "binary"), ("KLDivLoss", {"reduction": "batchmean"}, "prob"),
    ("SoftMarginLoss", {}, "sign"), ("MultiLabelSoftMarginLoss", {}, "binary"),
]


@pytest.mark.parametrize("spec", LOSSES, ids=[f"{s[0]}-{i}" for i, s in enumerate(LOSSES)])
def test_loss_matches_torch(spec):
    name, kwargs, kind = spec
    n, c = 6, 4
    x = rng.standard_normal((n, c)) if kind != "sign" else rng.standard_normal((n,))
    y = target(kind, n, c)
    w = rng.uniform(0.5, 2.0, size=(c,))
    tk = {k: (torch.tensor(w) if v in ("w", "pw") else v) for k, v in kwargs.items()}
    ak = {k: (anneal.tensor(w, dtype=anneal.float64) if v in ("w", "pw") else v) for k, v in kwargs.items()}
    if name == "NLLLoss":
        x = torch.log_softmax(torch.tensor(x), 1).numpy()
    if name == "KLDivLoss":
        x = torch.log_softmax(torch.tensor(x), 1).numpy()
    tx, ax = torch.tensor(x, requires_grad=True), anneal.tensor(x, dtype=anneal.float64).requires_grad_()
    ty = torch.tensor(y)
    ay = anneal.tensor(y) if kind == "class" else anneal.tensor(y, dtype=anneal.float64)
    tl, al = getattr(torch.nn, name)(**tk)(tx, ty), getattr(anneal.nn, name)(**ak)(ax, ay)
    np.testing.assert_allclose(al.detach().numpy(), tl.detach().numpy(), rtol=1e-9, atol=1e-12)
    probe = rng.standard_normal(tuple(tl.shape))
    (tl * torch.tensor(probe)).sum().backward()
    (al * anneal.tensor(probe, dtype=anneal.float64)).sum().backward()
    np.testing.assert_allclose(ax.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-12)


RNNS = [(kind, opts) for kind in ("RNN", "LSTM", "GRU") for opts in (
    {}, {"num_layers": 2}, {"bidirectional": True}, {"batch_first": True}, {"bias": False},
    {"num_layers": 2, "bidirectional": True, "batch_first": True}, {"nonlinearity": "relu"}, {"h0": True})
    if not (kind != "RNN" and "nonlinearity" in opts)]


@pytest.mark.parametrize("kind,opts", RNNS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(RNNS)])
def test_recurrent_layers_match_torch(kind, opts):
    opts = dict(opts)
    h0 = opts.pop("h0", False)
    x = arr(5, 3, 4) if not opts.get("batch_first") else arr(3, 5, 4)
    inputs = [x]
    if h0:
        layers = opts.get("num_layers", 1) * (2 if opts.get("bidirectional") else 1)
        h = arr(layers, 3, 6)
        inputs.append((h, arr(layers, 3, 6)) if kind == "LSTM" else h)
    if h0 and kind == "LSTM":  # an (h, c) tuple of tensors: build the inputs by hand
        tl = torch.nn.LSTM(4, 6, **opts).double()
        al = anneal.nn.LSTM(4, 6, **opts).double()
        al.load_state_dict({k: anneal.tensor(v.numpy()) for k, v in tl.state_dict().items()})
        to, (th, tc) = tl(torch.tensor(x), (torch.tensor(inputs[1][0]), torch.tensor(inputs[1][1])))
        ao, (ah, ac) = al(anneal.tensor(x, dtype=anneal.float64), (anneal.tensor(inputs[1][0], dtype=anneal.float64),
                                                                    anneal.tensor(inputs[1][1], dtype=anneal.float64)))
        for a, t in ((ao, to), (ah, th), (ac, tc)):
            np.testing.assert_allclose(a.detach().numpy(), t.detach().numpy(), rtol=1e-9, atol=1e-12)
        return
    check_layer(kind, (4, 6), opts, inputs)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(kind):
    check_layer(kind, (4, 5), {}, [arr(3, 4)], out_index=None if kind != "LSTMCell" else None)


@pytest.mark.parametrize("opts", [{}, {"batch_first": True}, {"kdim": 3, "vdim": 5}, {"bias": False},
                                  {"mask": "causal"}, {"mask": "bool"}, {"padding": True}, {"weights": False}])
def test_multihead_attention_matches_torch(opts):
    opts = dict(opts)
    mask, padding, weights = opts.pop("mask", None), opts.pop("padding", False), opts.pop("weights", True)
    e, h, L, S, N = 8, 2, 4, 5, 3
    tl = torch.nn.MultiheadAttention(e, h, **opts).double()
    al = anneal.nn.MultiheadAttention(e, h, **opts).double()
    assert list(tl.state_dict()) == list(al.state_dict())
    al.load_state_dict({k: anneal.tensor(v.numpy()) for k, v in tl.state_dict().items()})
    bf = opts.get("batch_first", False)
    q = arr(N, L, e) if bf else arr(L, N, e)
    k = arr(N, S, opts.get("kdim", e)) if bf else arr(S, N, opts.get("kdim", e))
    v = arr(N, S, opts.get("vdim", e)) if bf else arr(S, N, opts.get("vdim", e))
    kw_t, kw_a = {"need_weights": weights}, {"need_weights": weights}
    if mask == "causal":
        m = np.triu(np.full((L, S), -np.inf), 1)
        kw_t["attn_mask"], kw_a["attn_mask"] = torch.tensor(m), anneal.tensor(m, dtype=anneal.float64)
    elif mask == "bool":
        m = np.triu(np.ones((L, S), dtype=bool), 2)
        kw_t["attn_mask"], kw_a["attn_mask"] = torch.tensor(m), anneal.tensor(m)
    if padding:
        pm = np.zeros((N, S), dtype=bool)
        pm[:, -1] = True
        kw_t["key_padding_mask"], kw_a["key_padding_mask"] = torch.tensor(pm), anneal.tensor(pm)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    aq, ak, av = (anneal.tensor(a, dtype=anneal.float64).requires_grad_() for a in (q, k, v))
    to, tw = tl(tq, tk, tv, **kw_t)
    ao, aw = al(aq, ak, av, **kw_a)
    np.testing.assert_allclose(ao.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-12)
    if weights:
        np.testing.assert_allclose(aw.detach().numpy(), tw.detach().numpy(), rtol=1e-9, atol=1e-12)
    probe = arr(*to.shape)
    (to * torch.tensor(probe)).sum().backward()
    (ao * anneal.tensor(probe, dtype=anneal.float64)).sum().backward()
    for a, t in ((aq, tq), (ak, tk), (av, tv)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("opts", [{}, {"norm_first": True}, {"activation": "gelu", "batch_first": True}])
def test_transformer_layers_match_torch(opts):
    d, nh, ff = 8, 2, 16
    for name, inputs in (("TransformerEncoderLayer", [arr(5, 3, d)]),
                         ("TransformerDecoderLayer", [arr(4, 3, d), arr(5, 3, d)])):
        if opts.get("batch_first"):
            inputs = [np.swapaxes(a, 0, 1).copy() for a in inputs]
        check_layer(name, (d, nh, ff), dict(opts, dropout=0.0), inputs, train=True, atol=1e-8)


def test_whole_transformer_with_masks_matches_torch():
    tl = torch.nn.Transformer(8, 2, 2, 2, 16, dropout=0.0).double()
    al = anneal.nn.Transformer(8, 2, 2, 2, 16, dropout=0.0).double()
    assert list(tl.state_dict()) == list(al.state_dict())
    al.load_state_dict({k: anneal.tensor(v.numpy()) for k, v in tl.state_dict().items()})
    src, tgt = arr(6, 2, 8), arr(4, 2, 8)
    tm = torch.nn.Transformer.generate_square_subsequent_mask(4).double()
    am = anneal.nn.Transformer.generate_square_subsequent_mask(4, dtype=anneal.float64)
    np.testing.assert_array_equal(am.numpy(), tm.numpy())
    to = tl(torch.tensor(src), torch.tensor(tgt), tgt_mask=tm)
    ao = al(anneal.tensor(src, dtype=anneal.float64), anneal.tensor(tgt, dtype=anneal.float64), tgt_mask=am)
    np.testing.assert_allclose(ao.detach().numpy(), to.detach().numpy(), rtol=1e-8, atol=1e-10)


def test_containers_and_module_api_behave_as_torch():
    nn = anneal.nn
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and len(seq[1:]) == 2 and isinstance(seq[-1], nn.Linear)
    seq.append(nn.Sigmoid())
    del seq[1]
    assert [type(m).__name__ for m in seq] == ["Linear", "Linear", "Sigmoid"]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md
    pl = nn.ParameterList([nn.Parameter(anneal.ones(2)), nn.Parameter(anneal.zeros(3))])
    assert len(list(pl.parameters())) == 2 and pl[1].shape == (3,)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)
            self.register_buffer("steps", anneal.zeros(()))
            self.register_buffer("scratch", anneal.zeros(2), persistent=False)

        def forward(self, x):
            return self.b(self.a(x))
    net = Net()
    net.b.weight = net.a.weight  # tying by assignment
    assert anneal.equal(net.a.weight, net.b.weight) and len(list(net.parameters())) == 3
    assert list(net.state_dict()) == ["steps", "a.weight", "a.bias", "b.weight", "b.bias"]  # (PyTorch's order)
    net.a = nn.Identity()  # replacing a sub-module
    assert isinstance(dict(net.named_children())["a"], nn.Identity)
    calls = []
    h = net.register_forward_hook(lambda m, i, o: calls.append(tuple(o.shape)))
    net(anneal.ones(4, 2))
    h.remove()
    net(anneal.ones(4, 2))
    assert calls == [(4, 2)]
    r = net.load_state_dict({"b.weight": anneal.ones(2, 2), "b.bias": anneal.zeros(2), "steps": anneal.ones(())},
                            strict=False)
    assert r.missing_keys == [] and r.unexpected_keys == []
    with pytest.raises(RuntimeError, match="size mismatch for b.weight"):
        net.load_state_dict({"b.weight": anneal.ones(3, 2)}, strict=False)
    assert next(net.parameters()).shape == (2, 2) and isinstance(net.b.weight, nn.Parameter)
    assert net.double() is net and net.b.weight.dtype == anneal.float64
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Identity", "Linear"]
