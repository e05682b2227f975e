"""Step 1: Fashion-MNIST's IDX files -> a standardised subset as .npy arrays."""
import argparse
import gzip
import os

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--raw", required=True)
p.add_argument("--limit", type=int, default=10000)
p.add_argument("--out", required=True)
a = p.parse_args()


def idx(name):
    with gzip.open(os.path.join(a.raw, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


for split, prefix, n in (("train", "train", a.limit), ("test", "t10k", 2000)):
    x = idx(f"{prefix}-images-idx3-ubyte.gz")[:n].astype(np.float32) / 255.0
    y = idx(f"{prefix}-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    np.save(os.path.join(a.out, f"{split}_x.npy"), ((x - 0.2860) / 0.3530).reshape(len(x), -1))
    np.save(os.path.join(a.out, f"{split}_y.npy"), y)
print(f"prepared {a.limit} training and 2000 test images")
