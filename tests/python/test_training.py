"""A model trained from Python with the functional API and anneal.optim."""
import gzip
import os

import numpy as np
import pytest

import anneal
import anneal.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def load(kind, n):
    with gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:n]
    with gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return (x.astype(np.float32) / 255.0 - 0.286) / 0.353, y.astype(np.int64)


@pytest.mark.skipif(not os.path.exists(DATA), reason="dataset-fashion-mnist is not installed")
def test_mlp_learns_fashion_mnist():
    anneal.manual_seed(0)
    x, y = load("train", 6000)
    xt, yt = load("t10k", 2000)

    def init(fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        w = (anneal.rand(fan_out, fan_in) * 2 - 1) * bound
        b = (anneal.rand(fan_out) * 2 - 1) * bound
        return w.requires_grad_(), b.requires_grad_()

    w1, b1 = init(784, 128)
    w2, b2 = init(128, 10)
    params = [w1, b1, w2, b2]
    opt = anneal.optim.SGD(params, lr=0.1, momentum=0.9)

    def model(inp):
        return F.linear(F.relu(F.linear(inp, w1, b1)), w2, b2)

    X, Y = anneal.from_numpy(x), anneal.from_numpy(y)
    first = None
    for epoch in range(3):
        perm = np.random.default_rng(epoch).permutation(len(x))
        for i in range(0, len(x), 128):
            idx = anneal.from_numpy(perm[i:i + 128].copy())
            loss = F.cross_entropy(model(X[idx]), Y[idx])
            first = first if first is not None else loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with anneal.no_grad():
        pred = anneal.argmax(model(anneal.from_numpy(xt)), 1).numpy()
    accuracy = (pred == yt).mean()
    assert loss.item() < first / 3
    assert accuracy > 0.78, accuracy
