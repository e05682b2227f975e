"""Where a job runs: data-parallel ranks through `anneal launch` (distribution: pytorch) and
one SLURM batch job through sbatch (compute: slurm) on a one-node cluster the test starts
(skipped with the reason where this machine cannot run one)."""
import json
import os
import sys
import textwrap
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))

FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_a_pytorch_distribution_runs_ranks_with_prefixed_logs(anneal, tmp_path):
    job = write(tmp_path / "job.yaml", """\
        command: /usr/bin/python3 -c "import os; print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])"
        distribution: {type: pytorch, process_count_per_instance: 3}
        """)
    r = anneal("run", job)
    for rank in range(3):
        assert f"[rank{rank}]: rank {rank} of 3" in r.stdout
    run = anneal.show(anneal.run_id(r))
    log = open(os.path.join(run["folder"], "stdout.log")).read()
    assert all(f"[rank{rank}]: rank {rank} of 3" in log for rank in range(3))


def test_a_data_parallel_train_job_logs_once_and_matches_one_process(anneal, tmp_path):
    if not os.path.exists(FMNIST):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    base = """\
        model: {name: mlp, sizes: [784, 32, 10]}
        data: {name: fashion_mnist, limit: 2048}
        optimizer: {name: sgd, lr: 0.05, momentum: 0}
        epochs: 1
        batch_size: 64
        log_every: 8
        """
    one = anneal.show(anneal.run_id(anneal("run", write(tmp_path / "one.yaml", base))))
    two_job = write(tmp_path / "two.yaml", base)
    two_job.write_text(two_job.read_text() + "distribution: {type: pytorch, process_count_per_instance: 2}\n")
    two = anneal.show(anneal.run_id(anneal("run", two_job)))
    assert one["status"] == two["status"] == "completed"
    assert two["metrics"]["loss"]["count"] == one["metrics"]["loss"]["count"] == 4  # rank 0 alone logs
    # two ranks on halves of each global batch train as one process on the whole batch
    assert two["metrics"]["test_accuracy"]["last"] == pytest.approx(one["metrics"]["test_accuracy"]["last"], abs=0.05)
    assert two["metrics"]["loss"]["last"] == pytest.approx(one["metrics"]["loss"]["last"], rel=1e-4)


@pytest.fixture
def on_slurm(anneal, tmp_path):
    """`anneal` with a one-node SLURM cluster's environment (skipped where none can start)."""
    from slurm import SlurmCluster, Unavailable
    try:
        cluster = SlurmCluster(tmp_path / "slurm").__enter__()
    except Unavailable as e:
        pytest.skip(f"SLURM: {e}")
    env = dict(cluster.env)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    anneal.env.update(env)
    anneal.env["ANNEAL_RUNS_DIR"] = anneal.root
    try:
        yield anneal
    finally:
        cluster.__exit__(None, None, None)


def test_compute_slurm_submits_one_batch_job_that_records_the_run(on_slurm, tmp_path):
    anneal = on_slurm
    job = write(tmp_path / "job.yaml", """\
        experiment: cluster
        command: /usr/bin/python3 -c "import os; print('on', os.environ.get('SLURM_JOB_ID'))"
        compute: slurm
        slurm: {time: "00:05:00"}
        """)
    r = anneal("run", job)
    assert "submitted to SLURM as job" in r.stdout
    rid = r.stdout.split("anneal: run ")[1].split()[0]
    job_id = r.stdout.split("as job ")[1].split(";")[0]
    deadline = time.time() + 120
    while time.time() < deadline:
        run = anneal.show(rid)
        if run["status"] in ("completed", "failed", "canceled"):
            break
        time.sleep(0.5)
    assert run["status"] == "completed", run
    assert run["tags"]["slurm.job_id"] == job_id
    assert f"on {job_id}" in open(os.path.join(run["folder"], "stdout.log")).read()


def test_a_sweep_on_slurm_submits_each_trial_and_runs_to_the_end(on_slurm, tmp_path):
    anneal = on_slurm
    write(tmp_path / "t.py", """\
        import os, sys
        import anneal.tracking as mlflow
        x = float(sys.argv[1])
        for i in range(3):
            mlflow.log_metric("score", x * (i + 1))
        print("on", os.environ.get("SLURM_JOB_ID"))
        """)
    sweep = write(tmp_path / "sweep.yaml", """\
        experiment: slurm-sweep
        trial:
          command: /usr/bin/python3 t.py ${{search_space.x}}
        search_space:
          x: [1, 2, 3]
        sampling_algorithm: grid
        objective: {primary_metric: score, goal: maximize}
        limits: {max_concurrent_trials: 2}
        compute: slurm
        slurm: {time: "00:05:00", cpus_per_trial: 1}
        """)
    r = anneal("sweep", sweep, timeout=240)
    sid = r.stdout.split("anneal: sweep ")[1].split()[0]
    trials = json.loads(anneal("sweep", "show", sid, "--json").stdout)["trials"]
    errors = [anneal.show(t["run_id"])["error"] for t in trials]
    assert [t["status"] for t in trials] == ["completed"] * 3, (errors, r.stdout)
    for t in trials:
        run = anneal.show(t["run_id"])
        job_id = run["tags"]["slurm.job_id"]
        assert f"on {job_id}" in open(os.path.join(run["folder"], "stdout.log")).read()
    assert "best trial: 2" in r.stdout
