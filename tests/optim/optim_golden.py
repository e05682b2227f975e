#!/usr/bin/python3
"""Golden trajectories for the optimizers: 20 steps of each configuration from fixed
parameters with gradients g_t = sin(p * (t + 1)) + 0.1 * p, in float64 with PyTorch.
usage: optim_golden.py OUT_FILE"""
import sys

import numpy as np
import torch

CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.001)),
    ("sgd", dict(lr=0.05, maximize=True)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("adam", dict(lr=0.01, amsgrad=True)),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
    ("adamw", dict(lr=0.02, weight_decay=0.01, amsgrad=True)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
]
OPT = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
       "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}


def fmt(t):
    return " ".join(repr(float(x)) for x in t.detach().reshape(-1).numpy())


def main(out):
    lines = []
    rng = np.random.RandomState(7)
    for name, kw in CASES:
        init = [torch.tensor(rng.uniform(-1, 1, s)) for s in ((3, 4), (5,))]
        params = [p.clone().requires_grad_(True) for p in init]
        opt = OPT[name](params, **kw)
        for t in range(20):
            for p in params:
                p.grad = torch.sin(p.detach() * (t + 1)) + 0.1 * p.detach()
            opt.step()
        flat = {k: (float(v[0]), float(v[1])) if isinstance(v, tuple) else float(v) for k, v in kw.items()}
        opts = []
        for k, v in flat.items():
            if isinstance(v, tuple):
                opts += [f"beta1={v[0]!r}", f"beta2={v[1]!r}"]
            else:
                opts.append(f"{k}={v!r}")
        lines.append(f"case {name} {' '.join(opts)}")
        for p0, p in zip(init, params):
            lines.append("init " + fmt(p0))
            lines.append("final " + fmt(p))
        lines.append("end")
    open(out, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
