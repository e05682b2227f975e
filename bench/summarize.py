#!/usr/bin/python3
"""Median of each measurement over the rounds of a bench/run.sh output, as a table."""
import collections
import json
import statistics
import sys

rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    key = (r["bench"], r.get("n") or r.get("op") or r.get("numel") or f"threads={r.get('threads')}", r["impl"])
    for metric in ("gflops", "gbps", "us"):
        if metric in r:
            rows[key].append((metric, r[metric]))
print(f"{'bench':<14}{'size/op':<24}{'impl':<16}{'median':>10}  unit")
for (bench, size, impl), vals in sorted(rows.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])):
    metric = vals[0][0]
    print(f"{bench:<14}{str(size):<24}{impl:<16}{statistics.median(v for _, v in vals):>10.2f}  {metric}")
