"""anneal.optim with PyTorch's interface, step by step against torch.optim: parameter
groups as dicts, live `group["lr"]`, add_param_group, state, state_dict round trips,
closures, the Python schedulers."""
import inspect

import numpy as np
import pytest
import torch

import anneal


def pair(seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(s) for s in ((4, 3), (3,), (2, 3))]
    a = [anneal.tensor(w, dtype=anneal.float64).requires_grad_() for w in ws]
    t = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in ws]
    return a, t


def loss(lib, ps, x):
    h = lib.tanh(x @ ps[0] + ps[1])
    return (h @ ps[2].t() if lib is anneal else h @ ps[2].T).pow(2).sum()


def run(lib, ps, opt, steps=4, mutate=None):
    x = (anneal if lib is anneal else torch).tensor(np.linspace(-1, 1, 20).reshape(5, 4), dtype=(
        anneal.float64 if lib is anneal else torch.float64))
    for i in range(steps):
        opt.zero_grad()
        loss(lib, ps, x).backward()
        opt.step()
        if mutate:
            mutate(opt, i)
    return [p.detach().numpy().copy() for p in ps]


CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), dict(lr=0.2, momentum=0.5)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6), dict(lr=0.03, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.05), dict(lr=0.02, amsgrad=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True), dict(alpha=0.9)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01), dict(lr=0.05)),
]


@pytest.mark.parametrize("name,defaults,second", CASES, ids=[c[0] for c in CASES])
def test_parameter_groups_and_live_lr_match_torch(name, defaults, second):
    a, t = pair()

    def groups(ps):
        return [{"params": ps[:2]}, {"params": [ps[2]], **second}]

    oa = getattr(anneal.optim, name)(groups(a), **defaults)
    ot = getattr(torch.optim, name)(groups(t), **defaults)
    assert len(oa.param_groups) == 2 and oa.param_groups[1]["lr"] == ot.param_groups[1]["lr"]

    def halve(opt, i):
        for g in opt.param_groups:
            g["lr"] = g["lr"] * 0.5

    ra, rt = run(anneal, a, oa, mutate=halve), run(torch, t, ot, mutate=halve)
    for x, y in zip(ra, rt):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


def test_add_param_group_state_and_state_dict_round_trip():
    a, t = pair(1)
    oa = anneal.optim.Adam(a[:2], lr=0.01)
    ot = torch.optim.Adam(t[:2], lr=0.01)
    oa.add_param_group({"params": a[2], "lr": 0.002})
    ot.add_param_group({"params": t[2], "lr": 0.002})
    run(anneal, a, oa, steps=2)
    run(torch, t, ot, steps=2)
    np.testing.assert_allclose(oa.state[a[0]]["exp_avg"].numpy(), ot.state[t[0]]["exp_avg"].numpy(), rtol=1e-10)
    sd = oa.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.002 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    # a fresh optimizer loaded from the state dict continues exactly as the original
    b = [p.detach().clone().requires_grad_() for p in a]
    ob = anneal.optim.Adam([{"params": b[:2]}, {"params": b[2]}], lr=0.5)
    ob.load_state_dict(sd)
    assert ob.param_groups[1]["lr"] == 0.002
    ra, rb = run(anneal, a, oa, steps=2), run(anneal, b, ob, steps=2)
    for x, y in zip(ra, rb):
        np.testing.assert_array_equal(x, y)


def test_closure_step_and_signatures():
    a, _ = pair(2)
    opt = anneal.optim.SGD(a, lr=0.001)
    x = anneal.ones(5, 4, dtype=anneal.float64)

    def closure():
        opt.zero_grad()
        out = loss(anneal, a, x)
        out.backward()
        return out

    first = opt.step(closure).item()
    assert opt.step(closure).item() < first
    assert list(inspect.signature(anneal.optim.AdamW).parameters)[:3] == ["params", "lr", "betas"]
    assert isinstance(opt, anneal._C.optim.Optimizer)  # GradScaler, checkpoints and the Trainer take it


def test_bad_arguments_are_errors_that_name_them():
    a, _ = pair()
    with pytest.raises(ValueError, match="empty parameter list"):
        anneal.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        anneal.optim.Adam(a, lr=-1)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        anneal.optim.AdamW(a, betas=(0.9, 1.5))
    with pytest.raises(TypeError, match="iterable of Tensors"):
        anneal.optim.SGD(a[0], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        anneal.optim.SGD([{"params": a}, {"params": a[:1]}], lr=0.1)


@pytest.mark.parametrize("make", [
    lambda m, o: m.StepLR(o, 2, gamma=0.5),
    lambda m, o: m.MultiStepLR(o, [1, 3], gamma=0.3),
    lambda m, o: m.ExponentialLR(o, 0.9),
    lambda m, o: m.CosineAnnealingLR(o, T_max=5, eta_min=0.001),
    lambda m, o: m.LinearLR(o, start_factor=0.2, total_iters=3),
    lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=8),
    lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=2),
])
def test_schedulers_follow_torch(make):
    a, t = pair()
    oa, ot = anneal.optim.SGD(a, lr=0.1, momentum=0.9), torch.optim.SGD(t, lr=0.1, momentum=0.9)
    sa, st = make(anneal.optim.lr_scheduler, oa), make(torch.optim.lr_scheduler, ot)
    for _ in range(7):
        oa.step()
        ot.step()
        sa.step()
        st.step()
        assert sa.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12)
        assert oa.param_groups[0]["lr"] == pytest.approx(ot.param_groups[0]["lr"], rel=1e-12)


def test_reduce_lr_on_plateau_follows_torch():
    a, t = pair()
    oa, ot = anneal.optim.SGD(a, lr=1.0), torch.optim.SGD(t, lr=1.0)
    sa = anneal.optim.lr_scheduler.ReduceLROnPlateau(oa, patience=1, factor=0.5)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(ot, patience=1, factor=0.5)
    for metric in [5, 4, 4, 4, 4, 3, 3, 3, 3]:
        sa.step(metric)
        st.step(metric)
        assert oa.param_groups[0]["lr"] == ot.param_groups[0]["lr"]


@pytest.mark.parametrize("history", [100, 2])
@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_takes_torchs_steps(history, line_search):
    a, t = pair(3)
    x = np.linspace(-1, 1, 20).reshape(5, 4)
    lr = 0.8 if line_search is None else 1.0
    oa = anneal.optim.LBFGS(a, lr=lr, max_iter=7, history_size=history, line_search_fn=line_search)
    ot = torch.optim.LBFGS(t, lr=lr, max_iter=7, history_size=history, line_search_fn=line_search)

    def closure(lib, ps, opt, xs):
        def f():
            opt.zero_grad()
            out = loss(lib, ps, xs)
            out.backward()
            return out
        return f
    xa, xt = anneal.tensor(x, dtype=anneal.float64), torch.tensor(x, dtype=torch.float64)
    for _ in range(4):
        la = oa.step(closure(anneal, a, oa, xa))
        lt = ot.step(closure(torch, t, ot, xt))
        assert la.item() == pytest.approx(lt.item(), rel=1e-9)
    for p, q in zip(a, t):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-8, atol=1e-10)
    # the same number of closure calls (the line search's trial steps included)
    assert oa.state["func_evals"] == ot.state[ot._params[0]]["func_evals"]
    assert oa.state["n_iter"] == ot.state[ot._params[0]]["n_iter"]
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        anneal.optim.LBFGS(a, line_search_fn="backtracking")


def test_lbfgs_strong_wolfe_on_rosenbrock_takes_torchs_steps():
    # a curved valley: the line search brackets and zooms (more closure calls than steps)
    res = {}
    for lib in (torch, anneal):
        x = lib.tensor([-1.5, 2.0], dtype=lib.float64).requires_grad_(True)
        opt = lib.optim.LBFGS([x], lr=1, max_iter=30, line_search_fn="strong_wolfe", history_size=5)

        def closure():
            opt.zero_grad()
            f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
            f.backward()
            return f
        trace = [float(opt.step(closure)) for _ in range(3)]
        st = opt.state if lib is anneal else opt.state[opt._params[0]]
        res[lib.__name__] = (x.detach().numpy().copy(), trace, st["func_evals"], st["n_iter"])
    (xa, ta, ea, na), (xt, tt, et, nt) = res["anneal"], res["torch"]
    np.testing.assert_allclose(xa, xt, rtol=1e-10)
    np.testing.assert_allclose(ta, tt, rtol=1e-8, atol=1e-9)  # (the losses reach ~1e-10)
    assert (ea, na) == (et, nt) and ea > na
    np.testing.assert_allclose(xa, [1.0, 1.0], atol=1e-4)
