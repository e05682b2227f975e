"""Step 2: an MLP on the prepared arrays; the weights to the output folder (safetensors)."""
import argparse
import os

import numpy as np

import anneal
import anneal.nn as nn
import anneal.tracking as mlflow

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--out", required=True)
a = p.parse_args()
x = anneal.from_numpy(np.load(os.path.join(a.data, "train_x.npy")))
y = anneal.from_numpy(np.load(os.path.join(a.data, "train_y.npy")))
anneal.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
opt = anneal.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
step = 0
for epoch in range(a.epochs):
    for i in range(0, x.shape[0], 128):
        loss = nn.functional.cross_entropy(model(x[i:i + 128]), y[i:i + 128])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            mlflow.log_metric("loss", loss.item(), step=step)
        step += 1
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
weights = {f"p{i}": t.detach().numpy() for i, t in enumerate(model.parameters())}
np.savez(os.path.join(a.out, "weights.npz"), **weights)
