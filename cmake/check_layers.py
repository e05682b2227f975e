"""The layers point down only: fails (exit 1, naming file, line and include) when a file
of one layer includes a header of a layer above it. The build runs this before compiling
the library (CMake target `layer_check`), so an include that points up fails the build.

The order, bottom to top, and what each layer may include (docs/architecture.md):"""
import os
import re
import sys

# layer -> the layers its files may include (itself included)
ALLOWED = {
    "core": {"core"},
    "runtime": {"runtime", "core"},
    "kernels": {"kernels", "runtime", "core"},
    "ops": {"ops", "kernels", "runtime", "core"},
    "nn": {"nn", "ops", "runtime", "core"},
    "optim": {"optim", "nn", "ops", "runtime", "core"},
    "data": {"data", "ops", "runtime", "core"},
    # DistributedDataParallel wraps an nn.Module and ZeroRedundancyOptimizer an optimizer
    "distributed": {"distributed", "optim", "nn", "ops", "runtime", "core"},
    # the run records need nothing of tensors: the Trainer logs through them
    "tracking": {"tracking", "core"},
    "train": {"train", "tracking", "distributed", "data", "optim", "nn", "ops", "runtime", "core", "proto"},
    # the runs page's server
    "ui": {"ui", "tracking", "core"},
    # job files, the built-in trainer and the supervisor of a run's program
    "jobs": {"jobs", "train", "tracking", "distributed", "data", "optim", "nn", "ops", "runtime", "core"},
}
# Documented exceptions: (file, included layer, why).
EXCEPTIONS = {
    # runtime's CUDA streams, events, graphs and device queries reach the CUDA backend's
    # plain-C++ entry points (kernels/cuda/cuda_backend.h: no CUDA header) in their .cpp
    # files only; their headers, which every layer sees, include nothing above runtime.
    ("runtime/cuda_stream.cpp", "kernels"),
    ("runtime/cuda_graph.cpp", "kernels"),
    ("runtime/device.cpp", "kernels"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main(root):
    bad = []
    for layer, allowed in ALLOWED.items():
        top = os.path.join(root, layer)
        for dirpath, _, files in os.walk(top):
            for name in files:
                if not name.endswith((".h", ".cpp", ".cu", ".cuh")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or m.group(1) not in ALLOWED and m.group(1) != "proto":
                            continue
                        target = m.group(1)
                        if target not in allowed and (rel, target) not in EXCEPTIONS:
                            bad.append(f"{rel}:{n}: {layer}/ includes {target}/ , which it may not include: {line.strip()}")
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        print(f"check_layers: {len(bad)} include(s) break the layer order (docs/architecture.md)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
