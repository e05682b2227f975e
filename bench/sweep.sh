#!/usr/bin/env bash
# The sweep machinery's cost (docs/performance.md, "Sweeps"):
#  1. 100 trials that only log 10 metrics each, 4 at once: the wall time (launch and
#     bookkeeping per trial);
#  2. 4 real CNN trials (Fashion-MNIST, 1 epoch on 6,000 images), 2 at once: how busy the
#     machine's cores were over the sweep (/proc/stat), and the sweep's wall time.
#   bench/sweep.sh [BUILD_DIR]     (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/t.py" <<'PY'
import anneal.tracking as mlflow
for i in range(10):
    mlflow.log_metric("m", i * 0.1, step=i)
PY
cat > "$tmp/tiny.yaml" <<'YAML'
trial:
  command: /usr/bin/python3 t.py ${{search_space.x}}
search_space:
  x: {type: uniform, min_value: 0, max_value: 1}
objective: {primary_metric: m, goal: maximize}
limits: {max_total_trials: 100, max_concurrent_trials: 4}
YAML
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
start=$(date +%s.%N)
ANNEAL_RUNS_DIR="$tmp/runs" "$build/anneal" sweep "$tmp/tiny.yaml" >/dev/null
end=$(date +%s.%N)
echo "{\"bench\": \"sweep_overhead\", \"trials\": 100, \"concurrent\": 4, \"metrics_per_trial\": 10, \"wall_s\": $(echo "$end - $start" | bc)}"
read -r b0 t0 < <(cpu_busy)
start=$(date +%s.%N)
ANNEAL_RUNS_DIR="$tmp/runs" "$build/anneal" sweep examples/jobs/sweep_fashion_mnist.yaml \
  --set limits.max_total_trials=4 --set trial.epochs=1 --set trial.data.limit=6000 >/dev/null
end=$(date +%s.%N)
read -r b1 t1 < <(cpu_busy)
echo "{\"bench\": \"sweep_cnn_utilisation\", \"trials\": 4, \"concurrent\": 2, \"cores\": $(nproc), \"busy_percent\": $(echo "scale=1; 100 * ($b1 - $b0) / ($t1 - $t0)" | bc), \"wall_s\": $(echo "$end - $start" | bc)}"
