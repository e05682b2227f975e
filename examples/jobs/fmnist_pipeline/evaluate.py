"""Step 3: the trained weights on the prepared test images: the accuracy, logged."""
import argparse
import os

import numpy as np

import anneal.tracking as mlflow

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--model", required=True)
a = p.parse_args()
w = np.load(os.path.join(a.model, "weights.npz"))
x = np.load(os.path.join(a.data, "test_x.npy"))
y = np.load(os.path.join(a.data, "test_y.npy"))
h = np.maximum(x @ w["p0"].T + w["p1"], 0)
accuracy = float(((h @ w["p2"].T + w["p3"]).argmax(1) == y).mean() * 100)
mlflow.log_metric("test_accuracy", accuracy)
print(f"test accuracy: {accuracy:.2f}%")
