#!/usr/bin/python3
"""Fashion-MNIST from Python with anneal, written as a PyTorch user would.

    PYTHONPATH=build/python examples/python/fashion_mnist.py [--model mlp|cnn] [--epochs 3]
    PYTHONPATH=build/python build/anneal launch --nproc-per-node 2 -- examples/python/fashion_mnist.py

Launched with N ranks it trains with data parallelism (DistributedDataParallel, each rank
a 1/N share of every global batch of --batch). Prints the test accuracy as its last line."""
import os
import argparse
import gzip
import time

import numpy as np

import anneal
import anneal.nn as nn
import anneal.nn.functional as F
import anneal.distributed as dist
from anneal.nn.parallel import DistributedDataParallel as DDP

DATA = "/usr/share/datasets/fashion-mnist"


def load(kind):
    with gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return anneal.from_numpy((x.astype(np.float32) / 255.0 - 0.286) / 0.353), anneal.from_numpy(y.astype(np.int64))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--limit", type=int, default=0)
    args = p.parse_args()

    data_parallel = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = 0, 1
    if data_parallel:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.batch % world:
            raise SystemExit(f"--batch {args.batch} does not divide among {world} ranks")
    anneal.manual_seed(0)
    x, y = load("train")
    xt, yt = load("t10k")
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    net = MLP() if args.model == "mlp" else CNN()
    model = DDP(net) if data_parallel else net
    if args.model == "mlp":
        opt = anneal.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = anneal.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    n = x.shape[0]
    for epoch in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        perm = rng.permutation(n)
        for i in range(0, n, args.batch):
            # rank r of N: positions r, r + N, ... of the global batch (DistributedSampler's rule)
            idx = anneal.from_numpy(perm[i:i + args.batch][rank::world].copy())
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        secs = time.perf_counter() - start
        if data_parallel:  # the epoch's loss over all ranks' examples
            t = anneal.tensor([total])
            dist.all_reduce(t, op=dist.ReduceOp.AVG)
            total = t.item()
        if rank == 0:
            print(f"epoch {epoch + 1}  loss {total / ((n + args.batch - 1) // args.batch):.4f}  {n / secs:.0f} samples/s")
    if rank == 0:
        net.eval()
        with anneal.no_grad():
            correct = sum(int((anneal.argmax(net(xt[i:i + 1000]), 1) == yt[i:i + 1000]).sum().item())
                          for i in range(0, xt.shape[0], 1000))
        print(f"test accuracy: {100.0 * correct / xt.shape[0]:.2f}%")
    if data_parallel:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
