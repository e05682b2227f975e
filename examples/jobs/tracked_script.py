"""A training script that logs into its run with MLflow's names (anneal.tracking): run it
with `anneal run tracked_script.yaml`, or alone (it then creates a run under ./runs)."""
import argparse
import os

import anneal
import anneal.nn as nn
import anneal.tracking as mlflow

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--out", default="model-out")
args = p.parse_args()
mlflow.log_params({"lr": args.lr, "epochs": args.epochs, "model": "logistic regression on 2-d blobs"})

# two Gaussian blobs, a linear classifier
anneal.manual_seed(0)
n = 512
x = anneal.cat([anneal.randn(n, 2) + 2.0, anneal.randn(n, 2) - 2.0])
y = anneal.cat([anneal.zeros(n, dtype=anneal.int64), anneal.ones(n, dtype=anneal.int64)])
model = nn.Linear(2, 2)
opt = anneal.optim.SGD(model.parameters(), lr=args.lr)
steps_per_epoch = 16
for step in range(args.epochs * steps_per_epoch):
    loss = nn.functional.cross_entropy(model(x), y)  # full batch: 1024 points
    opt.zero_grad()
    loss.backward()
    opt.step()
    mlflow.log_metric("loss", loss.item(), step=step)
    if (step + 1) % steps_per_epoch == 0:
        accuracy = (model(x).argmax(1) == y).float().mean().item() * 100
        mlflow.log_metric("accuracy", accuracy, step=step)
        print(f"epoch {(step + 1) // steps_per_epoch}: loss {loss.item():.4f} accuracy {accuracy:.1f}%")
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "weights.txt"), "w") as f:
    f.write(repr([p.tolist() for p in model.parameters()]) + "\n")
mlflow.log_artifact(args.out)
print(f"accuracy: {accuracy:.1f}%")
