#!/usr/bin/python3
"""Reference outputs of the zoo models and attention layers, computed by PyTorch in float64.
usage: models_golden.py OUT.safetensors
For each case NAME the file holds NAME.param.<p> and NAME.buffer.<b> (the model's state,
with anneal's parameter names), NAME.input (and NAME.key / NAME.value / NAME.mask), NAME.output,
NAME.loss and NAME.grad.<p> (gradients of the case's loss), NAME.buffer_after.<b> (buffers
after the forward pass in training mode)."""
import math
import os
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_roundtrip import write  # noqa: E402

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
out = {}


def np_(t):
    return t.detach().numpy().copy()


def perturb(model):
    # Random non-trivial values everywhere (norm affine params, biases, running stats) so a
    # wrongly wired parameter shows.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for name, b in model.named_buffers():
            if "running_var" in name:
                b.copy_(torch.rand_like(b) + 0.5)
            elif "running_mean" in name:
                b.copy_(torch.randn_like(b) * 0.1)


def record(name, model, inputs, loss_fn, extra=None):
    perturb(model)
    for k, v in model.state_dict().items():
        kind = "param" if k in dict(model.named_parameters()) else "buffer"
        out[f"{name}.{kind}.{k}"] = np_(v)
    for k, v in inputs.items():
        out[f"{name}.{k}"] = np_(v)
    y = model(*inputs.values(), **(extra or {}))
    if isinstance(y, tuple):
        y = y[0]
    loss = loss_fn(y)
    loss.backward()
    out[f"{name}.output"] = np_(y)
    out[f"{name}.loss"] = np_(loss)
    for k, p in model.named_parameters():
        out[f"{name}.grad.{k}"] = np_(p.grad)
    for k, b in model.named_buffers():
        if b.dtype.is_floating_point:
            out[f"{name}.buffer_after.{k}"] = np_(b)


def probe_loss(name, shape):
    # loss = sum(output * probe) with a random probe: every output element gets its own weight.
    w = torch.randn(shape)
    out[f"{name}.probe"] = np_(w)
    return lambda y: (y * w).sum()


# --- MultiheadAttention: self (causal), cross with a float mask ---------------------------
E, H = 8, 2
mha = nn.MultiheadAttention(E, H, batch_first=True)
x = torch.randn(2, 5, E)
causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)  # torch: True = masked
record("mha_causal", mha, {"input": x}, probe_loss("mha_causal", (2, 5, E)),
       extra={"key": x, "value": x, "attn_mask": causal, "need_weights": False})
mha2 = nn.MultiheadAttention(E, H, batch_first=True)
q, kv = torch.randn(2, 3, E), torch.randn(2, 4, E)
mask = torch.randn(3, 4)
perturb(mha2)
for k, v in mha2.state_dict().items():
    out[f"mha_cross.param.{k}"] = np_(v)
out["mha_cross.input"], out["mha_cross.key"], out["mha_cross.mask"] = np_(q), np_(kv), np_(mask)
y = mha2(q, kv, kv, attn_mask=mask, need_weights=False)[0]
w = torch.randn(y.shape)
(y * w).sum().backward()
out["mha_cross.output"] = np_(y)
out["mha_cross.probe"] = np_(w)
for k, p in mha2.named_parameters():
    out[f"mha_cross.grad.{k}"] = np_(p.grad)


# --- GPT (pre-LN blocks, tied embedding) ---------------------------------------------------
class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, h, batch_first=True)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x):
        T = x.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        a = self.ln_1(x)
        x = x + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, V, ctx, L, h, d):
        super().__init__()
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(ctx, d)
        self.h = nn.ModuleList([Block(d, h) for _ in range(L)])
        self.ln_f = nn.LayerNorm(d)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.h:
            x = b(x)
        return self.ln_f(x) @ self.wte.weight.T


V = 11
gpt = GPT(V, 8, 2, 2, 8)
tokens = torch.randint(0, V, (2, 6))
targets = torch.randint(0, V, (2, 6))
out["gpt.targets"] = targets.numpy()
record("gpt", gpt, {"input": tokens}, lambda y: F.cross_entropy(y.reshape(-1, V), targets.reshape(-1)))


# --- ResNet-18 (CIFAR variant), narrow, training mode ----------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.downsample = (nn.Sequential(nn.Conv2d(i, o, 1, s, bias=False), nn.BatchNorm2d(o))
                           if s != 1 or i != o else None)

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    def __init__(self, classes, cin, w):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        blocks, c = [], w
        for s in range(4):
            o = w << s
            blocks += [BasicBlock(c, o, 1 if s == 0 else 2), BasicBlock(o, o, 1)]
            c = o
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


resnet = ResNet18(5, 3, 4)
record("resnet18", resnet, {"input": torch.randn(3, 3, 16, 16)}, probe_loss("resnet18", (3, 5)))

# --- SmallCNN with batch norm, and the MLP ---------------------------------------------------
cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(6 * 3 * 3, 16), nn.ReLU(), nn.Linear(16, 10))
record("cnn", cnn, {"input": torch.randn(4, 1, 12, 12)}, probe_loss("cnn", (4, 10)))
mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3))
record("mlp", mlp, {"input": torch.randn(4, 3, 4)}, probe_loss("mlp", (4, 3)))

write(sys.argv[1], out, {"torch": torch.__version__})
