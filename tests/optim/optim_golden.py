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
    lines += schedule_lines() + clip_lines()
    open(out, "w").write("\n".join(lines) + "\n")


SCHEDULES = [
    ("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5), "step_size=4 gamma=0.5"),
    ("multistep", lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 7, 20], gamma=0.3),
     "gamma=0.3"),
    ("exponential", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), "gamma=0.9"),
    ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=25, eta_min=0.001), "t_max=25 eta_min=0.001"),
    ("linear", lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12),
     "start=0.2 end=0.9 total=12"),
    ("onecycle", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=30, pct_start=0.25,
                                                                cycle_momentum=False), "max_lr=1.0 total=30 pct=0.25"),
    ("onecycle_momentum", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=30, pct_start=0.25),
     "max_lr=1.0 total=30 pct=0.25"),
]


def schedule_lines():
    lines = []
    for name, make, desc in SCHEDULES:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make(opt)
        lrs, moms = [], []
        for _ in range(29):
            lrs.append(opt.param_groups[0]["lr"])
            moms.append(opt.param_groups[0]["momentum"])
            opt.step()
            sched.step()
        lines.append(f"sched {name} {desc}")
        lines.append("lrs " + " ".join(repr(float(x)) for x in lrs))
        lines.append("moms " + " ".join(repr(float(x)) for x in moms))
        lines.append("end")
    # plateau: a metric that improves, stalls, improves
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    lines.append("sched plateau factor=0.5 patience=2 cooldown=1 min_lr=0.01")
    lines.append("metrics " + " ".join(repr(m) for m in metrics))
    lines.append("lrs " + " ".join(repr(float(x)) for x in lrs))
    lines.append("end")
    return lines


def clip_lines():
    lines = []
    rng = np.random.RandomState(11)
    for norm_type, max_norm in ((2.0, 1.0), (1.0, 0.5), (float("inf"), 0.3), (3.0, 100.0)):
        ps = [torch.zeros(3, 4, dtype=torch.float64, requires_grad=True), torch.zeros(5, dtype=torch.float64, requires_grad=True)]
        grads = [torch.tensor(rng.uniform(-1, 1, tuple(p.shape))) for p in ps]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
        lines.append(f"clip {norm_type!r} {max_norm!r} {float(total)!r}")
        for g, p in zip(grads, ps):
            lines.append("grad " + fmt(g))
            lines.append("clipped " + fmt(p.grad))
        lines.append("end")
    return lines


if __name__ == "__main__":
    main(sys.argv[1])
