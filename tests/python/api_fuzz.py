"""A generic fuzzer of anneal's Python API: every public callable of `anneal`,
`anneal.nn.functional`, the Tensor methods and the layers' constructors, called with
generated arguments (hostile sizes, negative/zero/huge dims, wrong types, NaN/inf,
mismatched dtypes, empty and non-contiguous tensors). A Python exception is a correct
answer; a signal (segfault, abort) or a hang is a finding.

    PYTHONPATH=build/python /usr/bin/python3 tests/python/api_fuzz.py --calls 200000 --seed 1

runs the calls in batches, each batch in a fresh subprocess under a memory limit; a batch
that dies is replayed call by call to name the call that killed it. Exit status 1 and the
offending calls printed when anything was found."""
import argparse
import inspect
import math
import os
import random
import resource
import signal
import subprocess
import sys

def _load_split_top():
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts",
                        "make_stubs.py")
    spec = importlib.util.spec_from_file_location("make_stubs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.split_top


split_top = _load_split_top()

SKIP = {
    # blocking, process-wide or interpreter-level on purpose
    "set_num_threads", "manual_seed", "_set_grad_enabled", "_shutdown_loaders", "cuda",
    # file writers/readers: paths are fuzzed by the C++ fuzzers
    "save", "load", "save_safetensors", "load_safetensors", "save_checkpoint", "load_checkpoint",
    "read_idx", "read_text", "read_token_shard", "read_cifar",
}


def targets():
    import anneal
    import anneal.nn as nn
    import anneal.nn.functional as F
    out = []
    for mod, prefix in ((anneal, "anneal"), (F, "anneal.nn.functional")):
        for name in sorted(dir(mod)):
            if name.startswith("__") or name in SKIP:
                continue
            obj = getattr(mod, name)
            if callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj):
                out.append((f"{prefix}.{name}", obj, False))
    for name in sorted(dir(anneal.Tensor)):
        if name.startswith("__") and name not in ("__getitem__", "__setitem__", "__add__", "__mul__", "__matmul__",
                                                  "__truediv__", "__pow__", "__int__", "__float__", "__bool__",
                                                  "__len__", "__repr__", "__index__", "__neg__", "__sub__", "__iadd__"):
            continue
        if name in ("numpy", "tolist", "record_stream", "cuda", "pin_memory", "backward", "register_hook"):
            continue
        if callable(getattr(anneal.Tensor, name, None)):
            out.append((f"Tensor.{name}", name, True))
    for name in sorted(dir(nn)):
        obj = getattr(nn, name)
        if inspect.isclass(obj) and name not in ("Module", "Parameter", "ModuleList", "Sequential", "ModuleDict"):
            out.append((f"anneal.nn.{name}", obj, False))
    return out


class Gen:
    """Arguments a hostile user might pass."""

    def __init__(self, rng):
        self.r = rng

    def size(self):
        return self.r.choice([0, 1, 2, 3, 5, -1, -2, 7, 2 ** 31, 2 ** 32, 2 ** 62, 2 ** 63 - 1, -2 ** 63, 10 ** 30])

    def small_shape(self):
        n = self.r.choice([0, 1, 1, 2, 2, 3, 4, 7, 9])
        return tuple(self.r.choice([0, 1, 2, 3]) for _ in range(n))

    def tensor(self):
        import anneal
        shape = self.small_shape()
        kind = self.r.random()
        try:
            if kind < 0.5:
                t = anneal.randn(*shape) if shape else anneal.randn(())
            elif kind < 0.7:
                t = anneal.randint(-5, 5, shape)
            elif kind < 0.8:
                t = anneal.zeros(*shape, dtype=anneal.bool) if shape else anneal.tensor(True)
            elif kind < 0.9:
                t = anneal.tensor(self.r.choice([float("nan"), float("inf"), -0.0, 1e38, 3.5]))
            else:
                t = anneal.randn(*shape).to(self.r.choice([anneal.float64, anneal.float16, anneal.bfloat16, anneal.int32,
                                                          anneal.uint8]))
            if t.dim() >= 2 and self.r.random() < 0.3:
                t = t.transpose(0, 1)  # non-contiguous
            if t.dim() >= 1 and self.r.random() < 0.2 and t.shape[0] > 0:
                t = t.expand(3, *t.shape) if self.r.random() < 0.5 else t[::2] if hasattr(t, "__getitem__") else t
            if self.r.random() < 0.2 and t.is_floating_point():
                t = t.detach().requires_grad_(True)
            return t
        except Exception:
            return anneal.ones(2, 3)

    def value(self, depth=0):
        r = self.r.random()
        if r < 0.35:
            return self.tensor()
        if r < 0.55:
            return self.size()
        if r < 0.65:
            return self.r.choice([0.5, -1.0, float("nan"), float("inf"), -float("inf"), 1e308, 0.0])
        if r < 0.72 and depth < 2:
            return tuple(self.value(depth + 1) for _ in range(self.r.randint(0, 4)))
        if r < 0.78 and depth < 2:
            return [self.size() for _ in range(self.r.randint(0, 9))]
        if r < 0.83:
            return self.r.choice([None, True, False])
        if r < 0.88:
            return self.r.choice(["", "mean", "sum", "none", "cpu", "cuda:7", "x" * 1000, "\udcff"])
        if r < 0.92:
            import anneal
            return self.r.choice([anneal.float32, anneal.int64, anneal.bool, anneal.float16])
        if r < 0.95:
            return slice(self.r.choice([None, -1, 0, 2 ** 62]), self.r.choice([None, 3, -2 ** 63]), self.r.choice([None, 1, 2, -1, 0]))
        return object()

    def small_int(self):
        return self.r.choice([-2, -1, 0, 1, 1, 2, 2, 3, 4]) if self.r.random() < 0.8 else self.size()

    def typed(self, annotation):
        """A value of the annotated type most of the time, anything at other times."""
        a = annotation.replace("anneal._C.", "").replace("typing.", "").strip()
        if self.r.random() < 0.15:
            return self.value()
        if a.startswith("Optional[") and self.r.random() < 0.3:
            return None
        a = a[len("Optional["):-1] if a.startswith("Optional[") else a
        if a == "Tensor":
            return self.tensor()
        if a == "int":
            return self.small_int()
        if a == "float":
            return self.r.choice([0.0, 0.5, 1.0, -1.0, 2.0, 1e-8, float("nan"), float("inf")])
        if a == "bool":
            return self.r.random() < 0.5
        if a == "str":
            return self.r.choice(["mean", "sum", "none", "tanh", "cpu", "", "bogus"])
        if a.startswith(("List[int]", "Sequence[int]", "list[int]")) or a in ("object", "IntList"):
            return [self.small_int() for _ in range(self.r.randint(0, 4))]
        if a.startswith(("List[", "Sequence[", "list[")):
            return [self.tensor() for _ in range(self.r.randint(0, 3))]
        if a.lower().endswith("dtype"):
            import anneal
            return self.r.choice([anneal.float32, anneal.float64, anneal.int64, anneal.bool, anneal.float16, anneal.uint8])
        return self.value()

    def call_args_for(self, fn):
        """Arguments shaped by the callable's signature (a pybind docstring or inspect)."""
        sigs = []
        doc = getattr(fn, "__doc__", None) or ""
        for line in doc.splitlines():
            line = line.strip()
            if line[:1].isdigit() and ". " in line:
                line = line.split(". ", 1)[1]
            if "(" in line and ")" in line and "->" in line:
                sigs.append(line[line.index("(") + 1:line.rindex(")", 0, line.index("->"))])
        if not sigs:
            try:
                params = list(inspect.signature(fn).parameters.values())
                sigs = [", ".join(p.name + (": " + str(p.annotation) if p.annotation is not p.empty else "")
                                  for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))]
            except (TypeError, ValueError):
                return self.call_args()
        sig = self.r.choice(sigs)
        args = []
        parts = split_top(sig)  # the stub generator's splitter: one parser of pybind signatures
        for part in parts:
            part = part.strip()
            if part in ("self", "*", "/") or part.startswith(("*", "self:", "self ")):
                continue
            has_default = "=" in part
            ann = part.split(":", 1)[1].split("=", 1)[0] if ":" in part else "?"
            if has_default and self.r.random() < 0.4:
                break  # leave the rest at their defaults
            args.append(self.typed(ann))
        if self.r.random() < 0.1:
            args.append(self.value())  # one too many
        return args, {}

    def call_args(self):
        args = [self.value() for _ in range(self.r.randint(0, 4))]
        kwargs = {}
        if self.r.random() < 0.3:
            for k in self.r.sample(["dim", "keepdim", "dtype", "out", "p", "eps", "reduction", "stride", "padding",
                                    "size", "weight", "bias", "training", "inplace", "num_classes", "device"],
                                   self.r.randint(1, 3)):
                kwargs[k] = self.value()
        return args, kwargs


def run_calls(seed, start, count, verbose):
    """Runs calls start..start+count of the stream for `seed` in this process."""
    import anneal
    ts = targets()
    returned = 0
    for i in range(start, start + count):
        rng = random.Random(seed * 1000003 + i)
        g = Gen(rng)
        name, fn, is_method = ts[rng.randrange(len(ts))]
        target = getattr(anneal.Tensor, fn) if is_method else fn
        args, kwargs = g.call_args_for(target) if rng.random() < 0.85 else g.call_args()
        if verbose:
            print(f"call {i}: {name} args={args!r:.300} kwargs={kwargs!r:.200}", flush=True)
        try:
            if is_method:
                getattr(g.tensor(), fn)(*args, **kwargs)
            else:
                fn(*args, **kwargs)
            returned += 1
        except Exception:  # any Python exception is a correct refusal
            pass
    print(f"batch: {count} calls, {returned} returned a value", flush=True)


def child_main(argv):
    seed, start, count, verbose = int(argv[0]), int(argv[1]), int(argv[2]), argv[3] == "1"
    limit = 4 << 30  # a hostile size gets a MemoryError-like refusal, not the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if os.environ.get("ANNEAL_API_FUZZ_SELFTEST") == "crash":  # proves a dying batch is reported
        os.kill(os.getpid(), signal.SIGSEGV)
    run_calls(seed, start, count, verbose)


def run_batch(seed, start, count, timeout, verbose=False):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(seed), str(start), str(count), "1" if verbose else "0"]
    env = dict(os.environ, ANNEAL_NUM_THREADS="1", OMP_NUM_THREADS="1")
    import anneal  # the children import the same package as this process
    root = os.path.dirname(os.path.dirname(os.path.abspath(anneal.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        return "hang", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    if p.returncode < 0:
        return f"signal {signal.Signals(-p.returncode).name}", p.stdout + p.stderr
    if p.returncode != 0:
        return f"exit {p.returncode}", p.stdout + p.stderr
    if "batch: " not in p.stdout:
        return "no summary (the batch did not run)", p.stdout + p.stderr
    return None, p.stdout


def fuzz(calls, seed, batch, timeout):
    findings = []
    returned = 0
    for start in range(0, calls, batch):
        n = min(batch, calls - start)
        what, out = run_batch(seed, start, n, timeout)
        if what is None:
            returned += int(out.split("batch: ")[1].split(" calls, ")[1].split()[0])
            continue
        # replay the batch verbosely to name the call that killed it
        _, out = run_batch(seed, start, n, timeout, verbose=True)
        last = [l for l in out.splitlines() if l.startswith("call ")]
        findings.append((what, last[-1] if last else "(no call printed)", out[-2000:]))
        print(f"FINDING: {what} at {findings[-1][1]}", flush=True)
    print(f"api_fuzz: {returned} of the calls returned a value, the others raised")
    return findings


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per batch before it counts as a hang")
    a = ap.parse_args()
    findings = fuzz(a.calls, a.seed, a.batch, a.timeout)
    print(f"api_fuzz: {a.calls} calls (seed {a.seed}), {len(findings)} findings")
    for what, call, out in findings:
        print(f"--- {what}: {call}\n{out}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
