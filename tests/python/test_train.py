"""Schedules, clipping and checkpoints from Python (same semantics as the C++ API, whose
values the C++ tests match against PyTorch)."""
import math

import pytest
import torch

import anneal
import anneal.nn as nn
import anneal.nn.functional as F


def test_schedules_match_torch():
    w = anneal.zeros(3, requires_grad=True)
    tw = torch.zeros(3, requires_grad=True)
    pairs = [
        (lambda o: anneal.optim.StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
        (lambda o: anneal.optim.CosineAnnealingLR(o, 10, 0.01),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.01)),
        (lambda o: anneal.optim.LinearLR(o, 0.25, 1.0, 4), lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.25, 1.0, 4)),
    ]
    for ours, theirs in pairs:
        oa, ot = anneal.optim.SGD([w], lr=0.1), torch.optim.SGD([tw], lr=0.1)
        sa, st = ours(oa), theirs(ot)
        for _ in range(12):
            assert math.isclose(sa.get_last_lr()[0], st.get_last_lr()[0], rel_tol=1e-12)
            ot.step()
            sa.step()
            st.step()


def test_clip_grad_norm():
    p = anneal.tensor([3.0, 4.0], requires_grad=True)
    (p * anneal.tensor([3.0, 4.0])).sum().backward()
    norm = anneal.optim.clip_grad_norm_([p], 1.0)
    assert math.isclose(norm, 5.0, rel_tol=1e-6)
    assert math.isclose(p.grad.square().sum().item(), 1.0, rel_tol=1e-5)


@pytest.mark.skipif(not anneal.train.checkpoints_available(), reason="built without protobuf")
def test_checkpoint_resume_continues_identically(tmp_path):
    def make():
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))
        return model, anneal.optim.Adam(model.parameters(), lr=1e-2)

    def step(model, opt, x):
        loss = F.mse_loss(model(x), anneal.zeros(8, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    anneal.manual_seed(0)
    x = anneal.randn(8, 4)
    a, oa = make()
    for _ in range(3):
        step(a, oa, x)
    path = str(tmp_path / "run.ckpt")
    anneal.train.save_checkpoint(path, a, oa, step=3, config="lr: 0.01")
    for _ in range(4):
        step(a, oa, x)

    anneal.manual_seed(99)
    b, ob = make()
    info = anneal.train.load_checkpoint(path, b, ob)
    assert info["step"] == 3 and info["config"] == "lr: 0.01"
    for _ in range(4):
        step(b, ob, x)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert anneal.equal(pa, pb), na
    with open(path, "r+b") as f:
        f.seek(40)
        f.write(b"\xff\xff")
    with pytest.raises(ValueError, match="corrupted"):
        anneal.train.load_checkpoint(path, b, ob)
