"""anneal.nn from Python: Python-defined modules (attribute registration, Python forward
called from C++ containers), C++ layers matching torch.nn with the same weights, state
dicts, training."""
import numpy as np
import pytest
import torch

import anneal
import anneal.nn as nn
import anneal.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.scale = nn.Parameter(anneal.ones(8))
        self.head = nn.Linear(8, 2)
        self.not_a_param = anneal.ones(3)  # plain tensors are not registered

    def forward(self, x):
        return self.head(self.body(x) * self.scale)


def test_attributes_register_parameters_and_children():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert net.num_parameters() == 8 + 4 * 8 + 8 + 8 * 2 + 2
    assert "Net(" in repr(net) and "(head): Linear(in_features=8" in repr(net)
    assert list(net.state_dict().keys()) == names


def test_python_module_inside_cpp_container_trains():
    anneal.manual_seed(0)
    net = Net()
    model = nn.Sequential(net, nn.Tanh())  # C++ Sequential calls the Python forward
    x, target = anneal.randn(16, 4), anneal.randn(16, 2) * 0.5
    opt = anneal.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(200):
        loss = F.mse_loss(model(x), target)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 4
    assert net.scale.grad is not None


def test_layers_match_torch_with_the_same_weights():
    anneal.manual_seed(1)
    ours = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 5))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5))
    # same names, so torch's state dict loads as it is
    state = {k: anneal.from_numpy(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for train in (True, False):
        ours.train(train)
        theirs.train(train)
        np.testing.assert_allclose(ours(anneal.from_numpy(x.copy())).detach().numpy(),
                                   theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_state_dict_round_trip_and_errors(tmp_path):
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    x = anneal.randn(2, 4)
    assert anneal.equal(a(x), b(x))
    with pytest.raises(RuntimeError, match="Missing key"):  # (PyTorch raises RuntimeError)
        b.load_state_dict({"scale": anneal.ones(8)})
    path = str(tmp_path / "w.safetensors")
    nn.save_safetensors(path, a.state_dict())
    assert list(nn.load_safetensors(path).keys()) == list(a.state_dict().keys())


def test_to_dtype_updates_the_python_handles():
    net = Net()
    net.to(anneal.float64)
    assert net.scale.dtype == anneal.float64
    assert net.head.weight.dtype == anneal.float64
    assert net(anneal.randn(2, 4).double()).dtype == anneal.float64


def test_gpt_and_zoo_by_name():
    anneal.manual_seed(0)
    gpt = nn.make_model("gpt", vocab_size=20, context=16, n_layer=1, n_head=2, d_model=16)
    logits = gpt(anneal.randint(0, 20, (2, 8)))
    assert logits.shape == (2, 8, 20)
    out = gpt.generate(anneal.tensor([1, 2, 3]), 5, top_k=3)
    assert out.shape == (8,)
    with pytest.raises(ValueError, match="unknown model"):
        nn.make_model("vgg")


def test_plain_import_gives_the_python_nn_package():
    """`import anneal` alone exposes anneal.nn.Module/Parameter (the Python package, not
    the extension's nn submodule it shadows)."""
    import os
    import subprocess
    import sys
    code = ("import anneal; assert anneal.nn.Module is not anneal._C.nn.Module; "
            "p = anneal.nn.Parameter(anneal.zeros(2)); assert p.requires_grad")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
