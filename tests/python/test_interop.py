"""NumPy interop shares memory both ways; lifetimes hold across the boundary."""
import gc

import numpy as np

import anneal


def test_from_numpy_shares_memory():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = anneal.from_numpy(x)
    x[0, 0] = 42
    assert t[0, 0].item() == 42
    t[1, 2] = -1.0
    assert x[1, 2] == -1


def test_numpy_shares_memory_and_outlives_the_tensor():
    t = anneal.arange(6, dtype=anneal.float64).reshape(2, 3)
    a = t.numpy()
    t[0] = 7.0
    assert a[0].tolist() == [7.0, 7.0, 7.0]
    del t
    gc.collect()
    assert a.sum() == 21 + 3 + 4 + 5


def test_tensor_keeps_array_alive_and_views_keep_base():
    t = anneal.from_numpy(np.ones((100, 100)))
    gc.collect()
    assert t.sum().item() == 10000
    v = anneal.randn(10, 10)[2:4]
    gc.collect()
    assert v.shape == (2, 10)


def test_array_protocol_and_tolist():
    t = anneal.tensor([[1.5, 2.5]], requires_grad=True)
    assert np.asarray(t).tolist() == [[1.5, 2.5]]
    assert t.tolist() == [[1.5, 2.5]]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert anneal.tensor(True).item() is True
    assert isinstance(anneal.tensor(3).item(), int)


def test_non_contiguous_numpy():
    x = np.arange(12.0).reshape(3, 4)[:, ::2]
    t = anneal.from_numpy(x)
    assert not t.is_contiguous()
    assert t.tolist() == x.tolist()
    back = t.numpy()
    assert back.strides == x.strides


def test_no_leak_over_many_steps():
    w = anneal.randn(32, 16, requires_grad=True)
    opt = anneal.optim.SGD([w], lr=0.01)
    x = anneal.randn(8, 32)
    def step():
        loss = (x @ w).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    step()
    gc.collect()
    before = anneal.memory_allocated()
    for _ in range(10000):
        step()
    gc.collect()
    # every step's graph, saved tensors and temporaries are freed
    assert anneal.memory_allocated() == before


def test_dlpack_with_torch_shares_memory():
    import torch
    import torch.utils.dlpack

    a = anneal.arange(6, dtype=anneal.float32).reshape(2, 3)
    t = torch.utils.dlpack.from_dlpack(a)
    t[0, 0] = 99.0
    assert a[0, 0].item() == 99.0
    del a
    gc.collect()
    assert t.sum().item() == 99 + 1 + 2 + 3 + 4 + 5  # the torch tensor keeps the memory

    src = torch.arange(12, dtype=torch.float64).reshape(3, 4)[:, 1:3]  # non-contiguous
    b = anneal.from_dlpack(src)
    assert b.shape == (3, 2) and not b.is_contiguous()
    src[0, 0] = -5.0
    assert b[0, 0].item() == -5.0
    assert b.tolist() == src.tolist()
    c = anneal.from_dlpack(torch.utils.dlpack.to_dlpack(torch.ones(2, dtype=torch.int64)))
    assert c.dtype == anneal.int64 and c.tolist() == [1, 1]
