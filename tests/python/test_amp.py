"""Mixed precision from Python: anneal.autocast against torch.autocast (CPU, bfloat16),
and anneal.optim.GradScaler skipping a step with an inf gradient."""
import math

import numpy as np
import pytest
import torch

import anneal
import anneal.functional as AF
import torch.nn.functional as TF

rng = np.random.default_rng(5)


def test_autocast_matches_torch_autocast_on_cpu():
    x = rng.standard_normal((6, 16)).astype(np.float32)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    t = np.array([1, 0, 7, 3, 2, 5])
    xa, wa = anneal.from_numpy(x), anneal.from_numpy(w.copy())
    wa.requires_grad = True
    xt, wt = torch.tensor(x), torch.tensor(w, requires_grad=True)
    with anneal.autocast("cpu", dtype=anneal.bfloat16):
        ya = AF.linear(xa, wa)
        la = AF.cross_entropy(ya, anneal.tensor(t))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yt = TF.linear(xt, wt)
        lt = TF.cross_entropy(yt.float(), torch.tensor(t))
    assert ya.dtype == anneal.bfloat16 and yt.dtype == torch.bfloat16
    assert la.dtype == anneal.float32
    np.testing.assert_allclose(ya.float().detach().numpy(), yt.float().detach().numpy(), rtol=2e-2, atol=2e-2)
    la.backward()
    lt.backward()
    assert wa.grad.dtype == anneal.float32
    np.testing.assert_allclose(wa.grad.numpy(), wt.grad.numpy(), rtol=5e-2, atol=5e-3)
    assert not anneal.is_autocast_enabled()
    with pytest.raises(ValueError, match="bfloat16 or float16"):
        with anneal.autocast("cpu", dtype=anneal.float64):
            pass
    with pytest.raises(ValueError, match="device_type"):
        with anneal.autocast("tpu"):
            pass


def test_grad_scaler_skips_inf_steps_and_backs_off():
    p = anneal.ones(3, requires_grad=True)
    opt = anneal.optim.SGD([p], lr=0.5)
    scaler = anneal.optim.GradScaler(init_scale=256.0)
    scaler.scale((p * anneal.tensor([1.0, math.inf, 1.0])).sum()).backward()
    assert not scaler.step(opt)
    scaler.update()
    assert p.tolist() == [1.0, 1.0, 1.0] and scaler.get_scale() == 128.0
    opt.zero_grad()
    scaler.scale(p.sum()).backward()
    assert scaler.step(opt)
    scaler.update()
    assert p.tolist() == [0.5, 0.5, 0.5]
    assert scaler.state_dict()["scale"] == 128.0
