#!/usr/bin/python3
"""Training throughput of anneal beside PyTorch at its best, interleaved round by round.

usage: train_driver.py TRAIN_BENCH [ROUNDS] [WORKLOAD...]    (bench/train.sh runs it)

1. PyTorch's configuration is measured, not assumed (bench/torch_best.py): the fastest
   OpenBLAS core type; then, per workload, the faster ATen vector width (PyTorch 1.13 runs
   AVX2 code by default even on AVX-512 CPUs) and the faster of its idiomatic formulations
   (attention as nn.MultiheadAttention or written out; the CNN in channels_last or not),
   each timed on a short run.
2. Each round runs every workload once with anneal and once with PyTorch, alternating
   which goes first, each in its own process (peak RSS is its own).
3. Around each run /proc/stat says how much CPU the rest of the machine took: the busy
   time of all CPUs minus the run's own (getrusage of the child), and the steal time of the
   hypervisor. A run where they took more than 10% of a core is marked disturbed.
4. The summary (stderr) gives the median over rounds of each figure and the median of the
   per-round ratios anneal/PyTorch with their range, over the undisturbed rounds when at
   least three are, else over all (said so).
Every run and the configuration are JSON lines on stdout."""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_best  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = {"mlp": "samples_per_s", "cnn": "samples_per_s", "char_gpt": "tokens_per_s"}
FORMS = {"mlp": ["default"], "cnn": ["default", "channels_last"], "char_gpt": ["mha", "manual"]}
DISTURBED_CORES = 0.10
TICK = os.sysconf("SC_CLK_TCK")


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def proc_stat():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, env=None):
    """Runs one benchmark process; returns its JSON line with the machine's load beside it."""
    full = dict(os.environ)
    if env:
        for k in ("OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY"):
            full.pop(k, None)
        full.update(env)
    busy0, steal0, own0, t0 = *proc_stat(), children_cpu(), time.monotonic()
    p = subprocess.run(cmd, env=full, capture_output=True, text=True)
    busy1, steal1, own1, t1 = *proc_stat(), children_cpu(), time.monotonic()
    if p.returncode != 0:
        raise SystemExit(f"train_driver: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    row = json.loads([line for line in p.stdout.splitlines() if line.startswith("{")][-1])
    wall = max(t1 - t0, 1e-6)
    foreign = max(0.0, (busy1 - busy0) / TICK - (own1 - own0)) / wall
    steal = (steal1 - steal0) / TICK / wall
    row.update(wall_s=round(wall, 2), foreign_cores=round(foreign, 3), steal_cores=round(steal, 3),
               disturbed=foreign + steal > DISTURBED_CORES)
    return row


def torch_cmd(w, form, steps=None):
    cmd = ["/usr/bin/python3", os.path.join(HERE, "train_reference.py"), w]
    if steps:
        cmd.append(str(steps))
    return cmd + ["--form", form]


def choose_torch(workloads, env):
    """The fastest (ATen capability, formulation) per workload, on short runs."""
    caps = [""] + (["AVX512"] if "avx512f" in open("/proc/cpuinfo").read() else [])
    short = {"mlp": 100, "cnn": 20, "char_gpt": 20}
    choice = {}
    for w in workloads:
        best = None
        for cap in caps:
            for form in FORMS[w]:
                e = dict(env, **({"ATEN_CPU_CAPABILITY": cap} if cap else {}))
                r = run(torch_cmd(w, form, short[w]), e)
                print(json.dumps({"probe": w, "aten_cpu_capability": cap or "(default)", "form": form,
                                  UNIT[w]: r[UNIT[w]]}), flush=True)
                if best is None or r[UNIT[w]] > best[0]:
                    best = (r[UNIT[w]], cap, form)
        choice[w] = {"aten_cpu_capability": best[1], "form": best[2]}
    return choice


def summarize(rows, workloads):
    out = sys.stderr
    print(f"\n{'workload':9} {'impl':7} {'items/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p90/p50':>7} {'rss MB':>7}"
          f"   ratio anneal/torch: median [min-max] over rounds", file=out)
    for w in workloads:
        by_round = {}
        for r in rows:
            if r["workload"] == w:
                by_round.setdefault(r["round"], {})[r["impl"]] = r
        rounds = [v for v in by_round.values() if "anneal" in v and "torch" in v]
        quiet = [v for v in rounds if not (v["anneal"]["disturbed"] or v["torch"]["disturbed"])]
        use, note = (quiet, f"{len(quiet)} undisturbed rounds") if len(quiet) >= 3 else (
            rounds, f"all {len(rounds)} rounds ({len(rounds) - len(quiet)} disturbed)")
        if not use:
            continue
        key = UNIT[w]
        ratios = [v["anneal"][key] / v["torch"][key] for v in use]
        for impl in ("anneal", "torch"):
            med = lambda k: statistics.median(v[impl][k] for v in use)
            tail = (f"   {statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}], {note}"
                    if impl == "anneal" else "")
            print(f"{w:9} {impl:7} {med(key):9.0f} {med('p50_step_ms'):8.2f} {med('p90_step_ms'):8.2f} "
                  f"{med('p90_step_ms') / med('p50_step_ms'):7.2f} {med('peak_rss_mb'):7.0f}{tail}", file=out)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    bench = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    workloads = sys.argv[3:] or ["mlp", "cnn", "char_gpt"]
    env, info = torch_best.choose()
    print(json.dumps({"reference": "torch", "cpu": cpu_model(), "openblas_core": info["chosen"],
                      "openblas_kernel": info["kernel"], "probes": info["probes"],
                      "openblas_openmp": info["openblas_openmp"], "jemalloc": info["jemalloc"]}), flush=True)
    choice = choose_torch(workloads, env)
    print(json.dumps({"reference_choice": choice}), flush=True)
    rows = []
    for rnd in range(1, rounds + 1):
        for w in workloads:
            c = choice[w]
            e = dict(env, **({"ATEN_CPU_CAPABILITY": c["aten_cpu_capability"]} if c["aten_cpu_capability"] else {}))
            jobs = [("anneal", lambda: run([bench, w])), ("torch", lambda: run(torch_cmd(w, c["form"]), e))]
            for impl, job in (jobs if rnd % 2 else jobs[::-1]):
                r = job()
                r["round"] = rnd
                rows.append(r)
                print(json.dumps(r), flush=True)
    print(f"\ncpu: {cpu_model()}; PyTorch 1.13 with OpenBLAS core {info['chosen']} (kernel {info['kernel']}), "
          f"OpenMP OpenBLAS {'yes' if info['openblas_openmp'] else 'NO'}, jemalloc {'yes' if info['jemalloc'] else 'NO'}; "
          + "; ".join(f"{w}: {c['form']}, ATen {c['aten_cpu_capability'] or 'default'}" for w, c in choice.items()),
          file=sys.stderr)
    summarize(rows, workloads)


if __name__ == "__main__":
    main()
