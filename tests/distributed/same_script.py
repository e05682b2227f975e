"""One training script, run unchanged on anneal (anneal.distributed, anneal.nn.parallel)
or on PyTorch (torch.distributed on Gloo): the tests start it on 2 ranks with each and
compare what the ranks wrote (collective results, sampler indices, gradients, weights).

    same_script.py anneal|torch OUT_DIR
"""
import sys

import numpy as np

framework, out_dir = sys.argv[1], sys.argv[2]
if framework == "torch":
    import torch as T
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data.distributed import DistributedSampler
else:
    import anneal as T
    import anneal.distributed as dist
    from anneal.distributed import DistributedSampler
    from anneal.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
record = {}

# collectives
t = T.from_numpy(np.arange(6, dtype=np.float32) + rank)
dist.all_reduce(t)
record["sum"] = t.numpy().copy()
for name, op in (("max", dist.ReduceOp.MAX), ("min", dist.ReduceOp.MIN), ("product", dist.ReduceOp.PRODUCT)):
    t = T.from_numpy(np.arange(6, dtype=np.float64) + rank + 1)
    dist.all_reduce(t, op=op)
    record[name] = t.numpy().copy()
b = T.from_numpy(np.full(5, float(rank), dtype=np.float32))
dist.broadcast(b, src=world - 1)
record["broadcast"] = b.numpy().copy()
parts = [T.from_numpy(np.zeros(3, dtype=np.int64)) for _ in range(world)]
dist.all_gather(parts, T.from_numpy(np.array([rank, rank * 10, 7], dtype=np.int64)))
record["all_gather"] = np.concatenate([p.numpy() for p in parts])
dist.barrier()

# the sampler: 50 examples on `world` ranks (padding when it does not divide)
record["sampler"] = np.array(list(iter(DistributedSampler(range(50), num_replicas=world, rank=rank, shuffle=False))))

# DDP: the same initial weights on rank 0 (the others start elsewhere), 3 SGD steps
rng = np.random.default_rng(0)
w1, b1 = rng.standard_normal((16, 10)).astype(np.float32) * 0.3, np.zeros(16, np.float32)
w2, b2 = rng.standard_normal((4, 16)).astype(np.float32) * 0.3, np.zeros(4, np.float32)
x_all = rng.standard_normal((8 * world, 10)).astype(np.float32)
y_all = rng.integers(0, 4, 8 * world)
model = T.nn.Sequential(T.nn.Linear(10, 16), T.nn.ReLU(), T.nn.Linear(16, 4))
with T.no_grad():
    for p, v in zip(model.parameters(), (w1, b1, w2, b2)):
        p.copy_(T.from_numpy(v + (0 if rank == 0 else 1)))
ddp = DDP(model)
opt = T.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
for step in range(3):
    x = T.from_numpy(x_all[rank * 8:(rank + 1) * 8])
    y = T.from_numpy(y_all[rank * 8:(rank + 1) * 8])
    opt.zero_grad()
    loss = T.nn.functional.cross_entropy(ddp(x), y)
    loss.backward()
    for i, p in enumerate(model.parameters()):
        record[f"grad{step}_{i}"] = p.grad.numpy().copy()
    opt.step()
for i, p in enumerate(model.parameters()):
    record[f"param{i}"] = p.detach().numpy().copy()

# no_sync: two micro-batches accumulate locally, the third synchronises all three
opt.zero_grad()
for k in range(3):
    x = T.from_numpy(x_all[rank * 8:(rank + 1) * 8] * (k + 1))
    y = T.from_numpy(y_all[rank * 8:(rank + 1) * 8])
    if k < 2:
        with ddp.no_sync():
            T.nn.functional.cross_entropy(ddp(x), y).backward()
    else:
        T.nn.functional.cross_entropy(ddp(x), y).backward()
for i, p in enumerate(model.parameters()):
    record[f"nosync_grad_{i}"] = p.grad.numpy().copy()


# find_unused_parameters: rank 1 skips branch b; nobody uses c
class Branchy(T.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = T.nn.Linear(10, 4)
        self.b = T.nn.Linear(10, 4)
        self.c = T.nn.Linear(10, 4)

    def forward(self, x, use_b):
        return self.a(x) + self.b(x) if use_b else self.a(x)


branchy = Branchy()
with T.no_grad():
    for i, p in enumerate(branchy.parameters()):
        p.copy_(T.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
bddp = DDP(branchy, find_unused_parameters=True)
x = T.from_numpy(x_all[rank * 8:(rank + 1) * 8])
bddp(x, rank == 0).sum().backward()
for name, p in (("a", branchy.a.weight), ("b", branchy.b.weight)):
    record[f"unused_{name}"] = p.grad.numpy().copy()
record["unused_c_is_none"] = np.array([branchy.c.weight.grad is None])

np.savez(f"{out_dir}/{framework}_rank{rank}.npz", **record)
dist.destroy_process_group()
print(f"rank {rank}: done")
