"""Regressions found by running real PyTorch programs: Python modules kept only by C++
containers, Module.apply on containers, cat/stack with many inputs, freeing long graphs,
byte order of NumPy arrays, 0-d tensors from Python numbers."""
import gc
import subprocess
import sys

import numpy as np
import pytest

import anneal
from anneal import nn


class Doubler(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.tag = "mine"

    def forward(self, x):
        return self.lin(x) * 2


@pytest.mark.parametrize("container", ["sequential", "sequential_append", "module_list", "add_module"])
def test_python_module_held_only_by_a_container_keeps_its_python_half(container):
    if container == "sequential":
        holder = nn.Sequential(Doubler())
        get = lambda: holder[0]  # noqa: E731
    elif container == "sequential_append":
        holder = nn.Sequential()
        holder.append(Doubler())
        get = lambda: holder[0]  # noqa: E731
    elif container == "module_list":
        holder = nn.ModuleList([Doubler()])
        get = lambda: holder[0]  # noqa: E731
    else:
        holder = nn.Module()
        holder.add_module("inner", Doubler())
        get = lambda: dict(holder.named_children())["inner"]  # noqa: E731
    gc.collect()
    m = get()
    assert type(m) is Doubler and m.tag == "mine"
    x = anneal.ones(2, 3)
    expected = (x @ m.lin.weight.t() + m.lin.bias) * 2
    assert anneal.allclose(m(x), expected)
    if container.startswith("sequential"):
        assert anneal.allclose(holder(x), expected)  # C++ calls the Python forward


def test_apply_visits_children_first_then_self_as_their_python_objects():
    seen = []
    model = nn.Sequential(nn.Linear(2, 2), Doubler(), nn.ModuleList([nn.ReLU()]))
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "Linear", "Doubler", "ReLU", "ModuleList", "Sequential"]


@pytest.mark.parametrize("n", [6, 7, 9, 17])
def test_cat_and_stack_backward_with_many_inputs(n):
    xs = [anneal.full((2, i + 1), float(i), dtype=anneal.float64).requires_grad_() for i in range(n)]
    out = anneal.cat(xs, 1)
    w = anneal.arange(float(out.numel()), dtype=anneal.float64).reshape(out.shape)
    (out * w).sum().backward()
    start = 0
    for i, x in enumerate(xs):
        assert anneal.equal(x.grad, w[:, start:start + i + 1])
        start += i + 1
    ys = [anneal.ones(3, dtype=anneal.float64).requires_grad_() for _ in range(n)]
    s = anneal.stack(ys)
    w = anneal.arange(float(s.numel()), dtype=anneal.float64).reshape(s.shape)
    (s * w).sum().backward()
    for i, y in enumerate(ys):
        assert anneal.equal(y.grad, w[i])


def test_freeing_a_very_long_graph_does_not_crash():
    # in a child process: a recursive teardown overflows the stack and kills the process
    code = ("import anneal\n"
            "x = anneal.ones(2, requires_grad=True)\n"
            "y = x\n"
            "for i in range(200000): y = y * x if i % 2 else y * 1.0\n"
            "del y\n"
            "print('freed')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": ":".join(p for p in sys.path if p)})
    assert r.returncode == 0 and r.stdout.strip() == "freed", r.stderr[-2000:]


def test_from_numpy_refuses_the_other_byte_order_and_tensor_converts_it():
    swapped = np.arange(4, dtype=np.float32).astype(np.dtype(np.float32).newbyteorder("S"))
    with pytest.raises(ValueError, match="byte order"):
        anneal.from_numpy(swapped)
    assert anneal.tensor(swapped).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert anneal.tensor(np.array([1, 2], dtype=np.dtype(np.int64).newbyteorder("S"))).tolist() == [1, 2]
    native = np.arange(3, dtype=np.float64)
    assert anneal.from_numpy(native).tolist() == [0.0, 1.0, 2.0]


def test_python_numbers_make_0_d_tensors():
    for v, dt in ((2.5, anneal.float32), (3, anneal.int64), (True, anneal.bool)):
        t = anneal.tensor(v)
        assert t.dim() == 0 and t.shape == () and t.dtype == dt and t.item() == v
