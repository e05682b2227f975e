"""PyTorch's tensor surface as anneal offers it (anneal/_surface.py), against Debian's
PyTorch on the same inputs through test_ops.check: outputs and gradients, with
non-contiguous and empty inputs where the op takes them."""
import copy
import pickle

import numpy as np
import pytest
import torch

import anneal
from test_ops import check, make


@pytest.mark.parametrize("key", [
    "[:, [-1], :]", "[[0, 1], [1, 2]]", "[:, [0, 2]]", "[..., [1, 3]]", "[0, [0, 2], 1:3]",
    "[:, [[0], [2]], [1, 3]]", "[[0, 1], :, [1, 2]]", "[[1, 0]]", "[:, [True, False, True]]", "[[-1, 0], 2]",
    "[:, []]",
])
@pytest.mark.parametrize("noncontig", [False, True])
def test_advanced_indexing_reads_and_gradients(key, noncontig):
    arr = make((2, 3, 4))
    check(lambda x: eval("x" + key), lambda x: eval("x" + key), arr, noncontig=noncontig and False)
    if noncontig:  # a transposed view indexed the same way
        check(lambda x: eval("x.transpose(0, 2)" + key.replace("[:, [0, 2]]", "[:, [0, 2]]")),
              lambda x: eval("x.transpose(0, 2)" + key), make((4, 3, 2)))


def test_mask_indexing_and_assignment():
    arr = make((3, 4))
    check(lambda x: x[x > 0], lambda x: x[x > 0], arr)
    for key, value in (("[[0, 2]]", 5.0), ("[:, [1, 3]]", -1.0), ("[[0, 1], [2, 3]]", 7.0)):
        a, t = anneal.tensor(arr), torch.tensor(arr)
        exec("a" + key + " = value")
        exec("t" + key + " = value")
        np.testing.assert_array_equal(a.numpy(), t.numpy())
    a, t = anneal.tensor(arr), torch.tensor(arr)
    a[a > 0] = 0.0
    t[t > 0] = 0.0
    np.testing.assert_array_equal(a.numpy(), t.numpy())
    a, t = anneal.tensor(arr), torch.tensor(arr)
    a[:, [0, 2]] = anneal.tensor(np.ones((3, 2)))
    t[:, [0, 2]] = torch.tensor(np.ones((3, 2)))
    np.testing.assert_array_equal(a.numpy(), t.numpy())
    with pytest.raises(IndexError, match="out of bounds"):
        anneal.tensor(arr)[:, [4]]


@pytest.mark.parametrize("fn", [
    lambda L, x: L.roll(x, 2, 1), lambda L, x: L.roll(x, -1, 0), lambda L, x: L.roll(x, (1, 2), (0, 1)),
    lambda L, x: L.roll(x, 3), lambda L, x: L.flip(x, [0]), lambda L, x: L.flip(x, (0, 1)),
    lambda L, x: L.cumsum(x, 1), lambda L, x: L.cumsum(x, 0), lambda L, x: L.cumprod(x, 1),
    lambda L, x: L.sort(x, 1).values, lambda L, x: L.sort(x, 0, descending=True).values,
    lambda L, x: L.topk(x, 2, 1).values, lambda L, x: L.topk(x, 2, 0, largest=False).values,
    lambda L, x: L.kthvalue(x, 2, 1).values, lambda L, x: L.median(x, 1).values,
    lambda L, x: L.diag(x), lambda L, x: L.diag(x, 1), lambda L, x: L.diag(x[0]), lambda L, x: L.diag(x[0], -1),
    lambda L, x: L.trace(x), lambda L, x: x.split([1, 2], 0)[1], lambda L, x: x.split(2, 1)[1],
    lambda L, x: L.unbind(x, 1)[2], lambda L, x: x.view_as(x.t()), lambda L, x: x.reshape_as(x.t()),
    lambda L, x: x[:1].expand_as(x), lambda L, x: x.max(1).values, lambda L, x: x.min(0).values,
    lambda L, x: x.repeat(2, 1), lambda L, x: L.nan_to_num(x / (x > 0)), lambda L, x: L.einsum("ij,kj->ik", x, x),
    lambda L, x: L.einsum("ij->ji", x), lambda L, x: L.einsum("ij->j", x),
    lambda L, x: L.baddbmm((x @ x.t()).unsqueeze(0), x.unsqueeze(0), x.t().unsqueeze(0), beta=0.5, alpha=2.0),
    lambda L, x: x.sum(dtype=L.float64), lambda L, x: L.div(x, 0.7, rounding_mode="floor"),
    lambda L, x: L.remainder(x, 0.7), lambda L, x: (x // 0.3).detach() + x,  # (torch: no gradient of //)
])
@pytest.mark.parametrize("noncontig", [False, True])
def test_composed_ops_match_torch(fn, noncontig):
    check(lambda x: fn(anneal, x), lambda x: fn(torch, x), make((3, 4)) if not noncontig else make((3, 3)),
          noncontig=noncontig)


def test_indices_match_torch():
    arr = make((4, 5))
    a, t = anneal.tensor(arr), torch.tensor(arr)
    np.testing.assert_array_equal(a.topk(3, 1).indices.numpy(), t.topk(3, 1).indices.numpy())
    np.testing.assert_array_equal(anneal.argsort(a, 0).numpy(), torch.argsort(t, 0).numpy())
    np.testing.assert_array_equal(a.sort(1, descending=True).indices.numpy(), t.sort(1, descending=True).indices.numpy())
    v, i = a.max(1)
    assert v.shape == (4,) and i.dtype == anneal.int64


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_empty_inputs(shape):
    arr = np.zeros(shape)
    check(lambda x: anneal.flip(x, [0]), lambda x: torch.flip(x, [0]), arr)
    check(lambda x: anneal.roll(x, 1, 0), lambda x: torch.roll(x, 1, 0), arr)
    check(lambda x: anneal.cumsum(x, -1), lambda x: torch.cumsum(x, -1), arr)


def test_factories_take_device_dtype_and_requires_grad():
    for f in (anneal.zeros, anneal.ones, anneal.rand, anneal.randn, anneal.empty):
        t = f(2, 3, device=anneal.device("cpu"), dtype=anneal.float64, requires_grad=True)
        assert t.shape == (2, 3) and t.dtype == anneal.float64 and t.requires_grad and t.device.type == "cpu"
        assert f((4,)).shape == (4,)
    assert anneal.full((2,), 3, device="cpu", dtype=anneal.float32).tolist() == [3.0, 3.0]
    assert anneal.arange(5, device="cpu").tolist() == [0, 1, 2, 3, 4]
    assert anneal.tensor([1, 2], device=anneal.device("cpu"), dtype=anneal.float64).dtype == anneal.float64
    anneal.manual_seed(0)
    r = anneal.randint(10, (1000,))
    assert r.dtype == anneal.int64 and int(r.min()) >= 0 and int(r.max()) <= 9 and r.shape == (1000,)
    assert anneal.randint(3, 5, (7,)).min().item() >= 3
    assert sorted(anneal.randperm(6).tolist()) == list(range(6))
    assert anneal.eye(2, 3).tolist() == torch.eye(2, 3).tolist()
    x = anneal.ones(2, dtype=anneal.float64)
    assert x.new_zeros(3).dtype == anneal.float64 and x.new_ones((2, 2)).shape == (2, 2)
    assert x.new_full((2,), 4.0).tolist() == [4.0, 4.0] and x.new_tensor([1, 2]).dtype == anneal.float64
    assert x.new(3).shape == (3,) and x.new([5.0]).tolist() == [5.0]
    assert anneal.zeros_like(x, dtype=anneal.float32).dtype == anneal.float32


def test_device_object():
    d = anneal.device("cuda", 1)
    assert (d.type, d.index, str(d), repr(d)) == ("cuda", 1, "cuda:1", "device(type='cuda', index=1)")
    assert anneal.device("cpu") == "cpu" and anneal.ones(1).device == anneal.device("cpu")
    assert anneal.ones(1).to(anneal.device("cpu")).device.type == "cpu"
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        anneal.device("tpu")
    with pytest.raises(RuntimeError, match="Invalid device string"):
        anneal.device("cuda:x")


def test_in_place_initialisers_and_legacy_forms():
    anneal.manual_seed(1)
    w = anneal.empty(20000, dtype=anneal.float64)
    w.normal_(2.0, 0.5)
    assert abs(w.mean().item() - 2.0) < 0.02 and abs(w.std().item() - 0.5) < 0.02
    w.uniform_(-3, -1)
    assert -3 <= w.min().item() and w.max().item() <= -1 and abs(w.mean().item() + 2) < 0.03
    w.zero_().add_(2.0, anneal.ones(20000, dtype=anneal.float64))  # legacy add_(value, tensor)
    assert w.sum().item() == 40000
    x = anneal.tensor([1.0, -2.0, 3.0])
    x.clamp_(min=0)
    x.masked_fill_(x > 2, 9.0)
    assert x.tolist() == [1.0, 0.0, 9.0]
    assert x.data.tolist() == [1.0, 0.0, 9.0] and not x.data.requires_grad
    p = anneal.zeros(3, requires_grad=True)
    p.data = anneal.ones(3)
    assert p.tolist() == [1.0, 1.0, 1.0] and p.requires_grad
    assert int(anneal.tensor(3)) == 3 and [1, 2, 3, 4][anneal.tensor(2)] == 3  # __index__
    assert [v.item() for v in anneal.tensor([4, 5])] == [4, 5]


def test_multinomial_and_bernoulli_follow_the_probabilities():
    anneal.manual_seed(2)
    probs = anneal.tensor([0.1, 0.0, 0.6, 0.3], dtype=anneal.float64)
    draws = anneal.multinomial(probs, 20000, replacement=True).numpy()
    freq = np.bincount(draws, minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.015)
    rows = anneal.multinomial(anneal.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]), 2)
    assert sorted(rows[0].tolist()) == [0, 1] and sorted(rows[1].tolist()) == [1, 2]
    with pytest.raises(RuntimeError, match="without replacement"):
        anneal.multinomial(anneal.tensor([1.0, 0.0]), 2)
    with pytest.raises(RuntimeError, match="element < 0"):
        anneal.multinomial(anneal.tensor([1.0, -1.0]), 1)
    b = anneal.bernoulli(anneal.full((20000,), 0.25))
    assert abs(b.mean().item() - 0.25) < 0.015


def test_pickle_and_deepcopy_keep_values_dtype_and_requires_grad():
    x = anneal.tensor([[1.5, 2.0]], dtype=anneal.float64, requires_grad=True)
    for y in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x)):
        assert y.tolist() == x.tolist() and y.dtype == anneal.float64 and y.requires_grad and y is not x
    assert repr(anneal.float32) == "anneal.float32" and anneal.float64.is_floating_point
    assert not anneal.int64.is_floating_point and anneal.ones(1).type() == "anneal.FloatTensor"


POOL_CASES = [  # kernel, stride, padding, dilation, ceil_mode
    ((2, 3), (2, 1), (1, 1), 1, False), ((3, 2), (2, 3), (1, 0), 1, True), (3, 2, 1, 1, True), (2, (1, 2), 0, 1, False),
    ((3, 3), (2, 2), (1, 1), (2, 1), False), (3, 3, 0, 1, True), (2, 2, 1, 1, True),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", POOL_CASES)
def test_max_pool2d_general_windows(kernel, stride, padding, dilation, ceil_mode):
    x = make((2, 3, 7, 8))
    check(lambda x: anneal.nn.functional.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode),
          lambda x: torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode), x)
    va, ia = anneal.nn.functional.max_pool2d(anneal.tensor(x), kernel, stride, padding, dilation, ceil_mode, True)
    vt, it = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, padding, dilation, ceil_mode, True)
    np.testing.assert_array_equal(va.numpy(), vt.numpy())
    np.testing.assert_array_equal(ia.numpy(), it.numpy())


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", [c for c in POOL_CASES if c[3] == 1])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool2d_general_windows(kernel, stride, padding, dilation, ceil_mode, count_include_pad,
                                    divisor_override):
    x = make((2, 3, 7, 8))
    check(lambda x: anneal.nn.functional.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad,
                                                    divisor_override),
          lambda x: torch.nn.functional.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad,
                                                   divisor_override), x)
    m_a = anneal.nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    m_t = torch.nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    np.testing.assert_allclose(m_a(anneal.tensor(x[0])).numpy(), m_t(torch.tensor(x[0])).numpy(), rtol=1e-12)


def test_pooling_arguments_pytorch_refuses():
    x = anneal.zeros(1, 1, 6, 6)
    with pytest.raises(RuntimeError, match="at most half"):
        anneal.nn.functional.max_pool2d(x, (2, 3), 1, (2, 0))
    with pytest.raises(RuntimeError, match="not zero"):
        anneal.nn.functional.avg_pool2d(x, 2, divisor_override=0)


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_integer_floor_and_trunc_division_stay_integers(dtype):
    x = np.array([7, -7, 0, 5, -1, 2 ** 31 - 1 if dtype == "int32" else 2 ** 52 + 3], dtype=dtype)
    y = np.array([3, 2, -4, -5, 3, 7], dtype=dtype)
    a, b, t, u = anneal.tensor(x), anneal.tensor(y), torch.tensor(x), torch.tensor(y)
    for got, want in ((a // b, t // u), (a % b, t % u), (a // 3, t // 3), (a % -3, t % -3),
                      (anneal.div(a, b, rounding_mode="trunc"), torch.div(t, u, rounding_mode="trunc")),
                      (a.div(4, rounding_mode="floor"), t.div(4, rounding_mode="floor"))):
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(ZeroDivisionError):
        a // anneal.zeros_like(a)
    with pytest.raises(RuntimeError, match="2\\^53"):
        anneal.tensor([2 ** 60]) // 3
    with pytest.raises(ValueError, match="rounding_mode"):
        anneal.div(a, b, rounding_mode="round")


@pytest.mark.parametrize("groups,stride,padding,output_padding,dilation", [
    (2, 2, 1, 1, 1), (3, 1, 0, 0, 1), (2, (2, 3), (3, 1), (1, 0), 1), (1, 1, 2, 0, 1), (2, 2, 1, 1, 2), (1, 3, 0, 2, 1),
])
def test_conv_transpose2d_groups_and_large_padding(groups, stride, padding, output_padding, dilation):
    # 6 input channels in `groups` groups, 2 output channels per group
    x, w, b = make((2, 6, 5, 4)), make((6, 2, 3, 2)), make((2 * groups,))
    check(lambda x, w, b: anneal.nn.functional.conv_transpose2d(x, w, b, stride, padding, output_padding, groups,
                                                                dilation),
          lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, stride, padding, output_padding, groups,
                                                               dilation), x, w, b)


def test_conv_transpose_layers_with_groups_load_pytorch_weights():
    for tcls, acls, shape in ((torch.nn.ConvTranspose2d, anneal.nn.ConvTranspose2d, (2, 4, 5, 5)),
                              (torch.nn.ConvTranspose1d, anneal.nn.ConvTranspose1d, (2, 4, 7))):
        tm = tcls(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2).double()
        am = acls(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2).double()
        am.load_state_dict({k: anneal.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
        x = make(shape)
        np.testing.assert_allclose(am(anneal.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("equation,shapes", [
    ("...ij,...jk->...ik", [(5, 2, 3), (5, 3, 4)]), ("bij,bjk", [(2, 3, 4), (2, 4, 5)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("...i,i", [(2, 3, 4), (4,)]), ("bhqd,bhkd->bhqk", [(2, 1, 3, 4), (2, 3, 5, 4)]), ("i,j,k->ijk", [(2,), (3,), (4,)]),
    ("ab...,b->...a", [(2, 3, 4, 5), (3,)]), ("ij,ij->", [(3, 4), (3, 4)]), ("ijk,ik->j", [(2, 3, 4), (2, 4)]),
])
def test_einsum_general(equation, shapes):
    arrays = [make(s) for s in shapes]
    check(lambda *xs: anneal.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), *arrays)


def test_einsum_errors():
    with pytest.raises(ValueError, match="number of subscripts"):
        anneal.einsum("ij,jk->ik", anneal.ones(2, 3), anneal.ones(3))
    with pytest.raises(ValueError, match="does not appear"):
        anneal.einsum("ij->z", anneal.ones(2, 3))
    with pytest.raises(RuntimeError, match="broadcast"):
        anneal.einsum("ij,ij->i", anneal.ones(2, 3), anneal.ones(2, 4))
    with pytest.raises(NotImplementedError, match="diagonal"):
        anneal.einsum("ii->i", anneal.ones(3, 3))
