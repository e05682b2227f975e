#!/usr/bin/python3
"""PyTorch (Debian's 1.13) runs of the training-stack issue's Fashion-MNIST recipes, for
comparing accuracy with examples/fashion_mnist over several seeds:
    parity_reference.py mlp|cnn-plain SEED [EPOCHS]    (prints "test accuracy: XX.XX%")
mlp: 784-512-256-10, SGD 0.1 momentum 0.9; cnn-plain: conv3x3 1->32, pool, conv3x3
32->64, pool, fc 3136->128, fc 10, Adam 1e-3; batch 128, shuffled, pixels in [0, 1]."""
import gzip
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

name, seed = sys.argv[1], int(sys.argv[2])
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
root = "/usr/share/datasets/fashion-mnist"
torch.set_num_threads(2)
torch.manual_seed(seed)


def idx(path, offset):
    with gzip.open(f"{root}/{path}") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


x_train = torch.tensor(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
y_train = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8), dtype=torch.int64)
x_test = torch.tensor(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
y_test = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8), dtype=torch.int64)

if name == "mlp":
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
else:
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(epochs):
    perm = torch.randperm(len(x_train))
    model.train()
    for i in range(0, len(perm), 128):
        b = perm[i:i + 128]
        opt.zero_grad()
        F.cross_entropy(model(x_train[b]), y_train[b]).backward()
        opt.step()
model.eval()
with torch.no_grad():
    correct = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item() for i in range(0, 10000, 1000))
print(f"test accuracy: {100 * correct / 10000:.2f}%")
