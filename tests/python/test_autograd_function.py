"""Python-defined differentiable ops (anneal.autograd.Function) and tensor gradient hooks:
each function is defined once against a library's API and run under PyTorch and under
anneal; values and gradients must agree, and against finite differences."""
import gc
import threading
import weakref

import numpy as np
import pytest
import torch

import anneal

LIBS = {"torch": torch, "anneal": anneal}


def make_functions(lib):
    F = lib.autograd.Function

    class Exp(F):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class ScaledMul(F):  # a non-tensor argument, needs_input_grad, None gradients
        @staticmethod
        def forward(ctx, a, b, scale):
            ctx.save_for_backward(a, b)
            ctx.scale = scale
            ctx.record = ctx.needs_input_grad
            return a * b * scale

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ga = g * b * ctx.scale if ctx.needs_input_grad[0] else None
            gb = g * a * ctx.scale if ctx.needs_input_grad[1] else None
            return ga, gb, None

    class MaxWithIndex(F):  # two outputs, one not differentiable
        @staticmethod
        def forward(ctx, x):
            values, idx = x.max(dim=1)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            ctx.shape = x.shape
            return values, idx

        @staticmethod
        def backward(ctx, g_values, g_idx):
            (idx,) = ctx.saved_tensors
            out = g_values.new_zeros(ctx.shape)
            out[lib.arange(ctx.shape[0]), idx] = g_values
            return out

    class Square(F):  # backward built of differentiable ops: double backward works
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    class DoubleInPlace(F):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    class Identity(F):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return 3 * g  # a marker: the identity's node is the one the gradient went through

    class Cube(F):  # PyTorch 2's style: forward without ctx, then setup_context
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    return dict(Exp=Exp, ScaledMul=ScaledMul, MaxWithIndex=MaxWithIndex, Square=Square,
                DoubleInPlace=DoubleInPlace, Identity=Identity, Cube=Cube)


FN = {name: make_functions(lib) for name, lib in LIBS.items()}
rng = np.random.default_rng(0)


def leaf(lib, arr):
    return lib.tensor(arr, dtype=lib.float64).requires_grad_(True)


def both(build):
    """build(lib, fns) -> list of tensors to compare; runs it under both libraries."""
    out = {name: [t.detach().numpy() if t is not None else None for t in build(lib, FN[name])]
           for name, lib in LIBS.items()}
    for a, t in zip(out["anneal"], out["torch"]):
        np.testing.assert_allclose(a, t, rtol=1e-12, atol=1e-12)


def test_exp_matches_torch_and_finite_differences():
    x0 = rng.standard_normal((3, 4))

    def build(lib, fns):
        x = leaf(lib, x0)
        y = fns["Exp"].apply(x)
        (y * lib.tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
        return [y, x.grad]
    both(build)
    # finite differences of anneal's forward against its backward
    x = leaf(anneal, x0)
    w = np.arange(12.0).reshape(3, 4)
    (FN["anneal"]["Exp"].apply(x) * anneal.tensor(w)).sum().backward()
    eps, fd = 1e-6, np.zeros_like(x0)
    for i in np.ndindex(*x0.shape):
        d = np.zeros_like(x0)
        d[i] = eps
        f = lambda v: (FN["anneal"]["Exp"].apply(anneal.tensor(v)).numpy() * w).sum()
        fd[i] = (f(x0 + d) - f(x0 - d)) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), fd, rtol=1e-6)


def test_non_tensor_arguments_and_needs_input_grad():
    a0, b0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    def build(lib, fns):
        a, b = leaf(lib, a0), lib.tensor(b0, dtype=lib.float64)
        y = fns["ScaledMul"].apply(a, b, 2.5)
        y.sum().backward()
        return [y, a.grad]
    both(build)
    a, b = leaf(anneal, a0), anneal.tensor(b0, dtype=anneal.float64)
    assert b.grad is None
    y = FN["anneal"]["ScaledMul"].apply(a, b, 2.5)
    assert y.requires_grad and y.grad_fn is not None and "ScaledMulBackward" in str(y.grad_fn)


def test_non_differentiable_output_and_multiple_outputs():
    x0 = rng.standard_normal((4, 5))

    def build(lib, fns):
        x = leaf(lib, x0)
        values, idx = fns["MaxWithIndex"].apply(x)
        assert not idx.requires_grad and values.requires_grad
        (values * values).sum().backward()
        return [values, idx.double(), x.grad]
    both(build)


def test_double_backward_through_a_python_backward():
    x0 = rng.standard_normal(5)

    def build(lib, fns):
        x = leaf(lib, x0)
        y = fns["Square"].apply(x).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        return [g, gg]
    both(build)


def test_mark_dirty_in_place_and_returned_inputs():
    x0 = rng.standard_normal(4)

    def build(lib, fns):
        x = leaf(lib, x0)
        h = x * 1.0
        y = fns["DoubleInPlace"].apply(h)
        assert y is h or y.data_ptr() == h.data_ptr()
        (y * 5).sum().backward()
        x2 = leaf(lib, x0)
        h2 = x2 + 0
        z = fns["Identity"].apply(h2)
        (z.sum() + h2.sum()).backward()  # the input's own path is untouched: 3 + 1
        return [y, x.grad, z, x2.grad]
    both(build)
    x = leaf(anneal, x0)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        FN["anneal"]["DoubleInPlace"].apply(x)


def test_setup_context_style():
    # PyTorch 2's form (Debian's PyTorch 1.13 predates it): checked against 3x^2
    x0 = rng.standard_normal(3)
    x = leaf(anneal, x0)
    y = FN["anneal"]["Cube"].apply(x)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), x0 ** 3, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), 3 * x0 ** 2, rtol=1e-12)


def test_wrong_backward_results_are_errors():
    F = anneal.autograd.Function

    class TooMany(F):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class WrongShape(F):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return anneal.ones(7, dtype=anneal.float64)

    class GradForNumber(F):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g, g

    class Raises(F):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            raise ValueError("backward of Raises failed on purpose")

    x = leaf(anneal, rng.standard_normal(3))
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="different than None at position 2"):
        GradForNumber.apply(x, 3.0).sum().backward()
    with pytest.raises(ValueError, match="failed on purpose"):
        Raises.apply(x).sum().backward()
    with pytest.raises(NotImplementedError):
        F.apply(x)
    # a saved tensor changed in place before backward
    y = x * 1.0
    out = FN["anneal"]["Square"].apply(y)
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    # backward twice without retain_graph
    z = FN["anneal"]["Exp"].apply(x).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


def test_graph_and_context_are_freed_with_the_output():
    x = leaf(anneal, rng.standard_normal(3))
    refs = []

    class Keep(anneal.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            refs.append(weakref.ref(ctx))
            y = x.exp()
            ctx.save_for_backward(y)  # an output saved: must not make a cycle
            return y

        @staticmethod
        def backward(ctx, g):
            return g * ctx.saved_tensors[0]

    y = Keep.apply(x)
    assert refs[0]() is not None
    del y
    gc.collect()
    assert refs[0]() is None, "the context of a dropped graph is still alive (a reference cycle through C++)"


def test_backward_from_another_thread():
    x = leaf(anneal, rng.standard_normal(3))
    y = FN["anneal"]["Exp"].apply(x).sum()
    t = threading.Thread(target=y.backward)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy()))


def test_register_hook_replaces_the_gradient_and_can_be_removed():
    x0 = rng.standard_normal(4)

    def build(lib, _):
        x = leaf(lib, x0)
        h = x * 3
        seen = []
        handle = h.register_hook(lambda g: g * 2)
        h.register_hook(lambda g: seen.append(g.clone()))  # returning None keeps the gradient
        (h * h).sum().backward()
        first = x.grad.clone()
        x.grad = None
        handle.remove()
        h2 = x * 3
        h2.register_hook(lambda g: g * 10).remove()
        (h2 * h2).sum().backward()
        return [first, seen[0], x.grad]
    both(build)
    with pytest.raises(Exception, match="doesn't require gradient"):
        anneal.ones(2).register_hook(lambda g: g)


def test_once_differentiable():
    from anneal.autograd.function import once_differentiable

    class Sq(anneal.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = leaf(anneal, np.array([1.0, 2.0]))
    Sq.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
