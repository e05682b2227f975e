#!/usr/bin/python3
"""A character-level GPT on the King James text from Python (scripts/data.sh writes it).

    PYTHONPATH=build/python examples/python/char_lm.py [--steps 2000] [--data datasets/kjv.txt]
    PYTHONPATH=build/python build/anneal launch --nproc-per-node 2 -- examples/python/char_lm.py

Launched with N ranks it trains with data parallelism (DistributedDataParallel over a
DistributedSampler: each rank --batch / N windows of every global batch; rank 0 prints).

Trains on the first 90%, prints the validation loss (nats/char) on the last 10% and a
sample. The model, optimizer and loader are anneal's C++ ones; the loop is Python."""
import argparse
import os
import time

import anneal
import anneal.nn as nn
import anneal.nn.functional as F
from anneal import data
import anneal.distributed as dist
from anneal.nn.parallel import DistributedDataParallel as DDP


def validation_loss(model, tokens, context, batch=32):
    """Mean loss over non-overlapping windows of the validation text."""
    windows = data.TextWindows(tokens, context)
    starts = list(range(0, len(windows), context))
    total = 0.0
    with anneal.no_grad():
        for i in range(0, len(starts), batch):
            pairs = [windows[j] for j in starts[i:i + batch]]
            x, y = anneal.stack([p[0] for p in pairs]), anneal.stack([p[1] for p in pairs])
            total += F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() * len(pairs)
    return total / len(starts)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="datasets/kjv.txt")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--eval-every", type=int, default=0, help="steps between validation losses (0: at the end)")
    args = p.parse_args()
    # inside `anneal run` / `anneal sweep` the run records the curves (anneal.tracking)
    tracked = bool(os.environ.get("ANNEAL_RUN_ID"))
    if tracked:
        import anneal.tracking as mlflow
    data_parallel = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = 0, 1
    if data_parallel:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.batch % world:
            raise SystemExit(f"--batch {args.batch} does not divide among {world} ranks")

    anneal.manual_seed(0)
    text = data.read_text(args.data)
    vocab = data.CharVocab.from_text(text)
    tokens = vocab.encode(text)
    split = tokens.shape[0] * 9 // 10
    train, val = tokens[:split], tokens[split:]
    gpt = nn.GPT(len(vocab), context=args.context, n_layer=4, n_head=4, d_model=128)
    model = DDP(gpt) if data_parallel else gpt
    opt = anneal.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    windows = data.TextWindows(train, args.context)
    sampler = dist.DistributedSampler(windows, num_replicas=world, rank=rank) if data_parallel else None
    loader = data.DataLoader(windows, batch_size=args.batch // world, shuffle=not data_parallel, sampler=sampler,
                             num_workers=1)
    start, step = time.perf_counter(), 0
    for x, y in loader:
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0 and rank == 0:
            rate = step * args.batch * args.context / (time.perf_counter() - start)
            print(f"step {step}  loss {loss.item():.4f}  {rate:.0f} tokens/s", flush=True)
            if tracked:
                mlflow.log_metrics({"loss": loss.item(), "tokens_per_s": rate}, step=step)
        if tracked and rank == 0 and args.eval_every and step % args.eval_every == 0 and step < args.steps:
            gpt.eval()
            mlflow.log_metric("val_loss", validation_loss(gpt, val, args.context), step=step)
            gpt.train()
        if step == args.steps:
            break
    if rank == 0:
        gpt.eval()
        print("--- sample ---")
        print(vocab.decode(gpt.generate(vocab.encode("And God said"), 300, temperature=0.8)))
        final = validation_loss(gpt, val, args.context)
        if tracked:
            mlflow.log_metric("val_loss", final, step=step)
        print(f"validation loss: {final:.4f} nats/char after {step} steps")
    if data_parallel:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
