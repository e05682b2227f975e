#!/usr/bin/env bash
# The cost of tracking (docs/performance.md, "Tracking"): log_metric from C++ and from
# Python, and the registry's write rate on SQLite and on a PostgreSQL server started here
# (tests/tools/postgres.py; skipped with its reason when this machine cannot run one).
#   bench/tracking.sh [BUILD_DIR]     (default build-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
scripts/build.sh "$build" -DCMAKE_BUILD_TYPE=Release -DANNEAL_CUDA=OFF >/dev/null
ninja -C "$build" tracking_bench >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$build" "$tmp" <<'PY'
import json, os, subprocess, sys, time
build, tmp = sys.argv[1], sys.argv[2]
sys.path.insert(0, "tests/tools")
import postgres
def cpp(uri=None):
    args = [f"{build}/bench/tracking_bench", f"{tmp}/cpp"] + ([uri] if uri else [])
    subprocess.run(args, check=True)
try:
    with postgres.PostgresServer() as pg:
        cpp(pg.uri)
except postgres.Unavailable as e:
    print(json.dumps({"bench": "registry_write", "engine": "postgresql", "skipped": str(e)}))
    cpp()
code = """
import time, anneal.tracking as mlflow
mlflow.start_run(experiment="bench", runs_dir=%r)
t = []
for r in range(5):
    s = time.perf_counter()
    for i in range(100000):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=r * 100000 + i)
    t.append(time.perf_counter() - s)
    mlflow.flush()
t.sort()
print('{"bench": "log_metric_100k", "lang": "python", "loop_s": %%.4f}' %% t[2])
""" % f"{tmp}/py"
subprocess.run(["/usr/bin/python3", "-c", code], check=True, env=dict(os.environ, PYTHONPATH=f"{build}/python"))
PY
