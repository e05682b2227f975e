"""Data parallelism with real processes on loopback: every collective, DDP equal to one
process, and the failures (a killed rank, a stopped rank, a wrong address) ending in
errors within their timeouts."""
import os
import signal
import time

import pytest

from harness import Ranks, free_port


def run(worker, n, *args, env=None, timeout=120):
    ranks = Ranks([worker, *args], n, env=env)
    codes = ranks.wait(timeout)
    return codes, ranks


@pytest.mark.parametrize("n", [2, 3])
def test_collectives(worker, n):
    codes, ranks = run(worker, n, "collectives")
    assert codes == [0] * n, ranks.report()
    assert all("collectives ok" in ranks.text(r) for r in range(n)), ranks.report()


@pytest.mark.parametrize("model,n,extra", [
    ("mlp", 2, []), ("mlp", 3, []), ("mlp64", 2, []), ("mlp64", 3, ["--tiny-buckets"]),
    ("cnn", 2, []), ("cnn", 3, []), ("gpt", 2, []), ("gpt", 3, ["--tiny-buckets"]),
    ("mlp", 2, ["--tiny-buckets", "--as-view"]), ("gpt", 2, ["--as-view"]),
    ("mlp", 2, ["--fp16"]), ("mlp", 3, ["--bf16"]),
])
def test_ddp_equals_one_process(worker, model, n, extra):
    codes, ranks = run(worker, n, "ddp", model, *extra)
    assert codes == [0] * n, ranks.report()
    assert all(f"ddp {model} ok" in ranks.text(r) for r in range(n)), ranks.report()
    if "--tiny-buckets" in extra:
        assert " 1 buckets" not in ranks.text(0), ranks.report()


@pytest.mark.parametrize("scenario,needle", [
    ("nosync", "no_sync ok"),
    ("unused", "unused parameters raise"),
    ("unused_ok", "find_unused_parameters ok"),
    ("mismatch", "mismatch raises"),
    ("twice", "backward twice raises"),
])
def test_ddp_semantics(worker, scenario, needle):
    codes, ranks = run(worker, 2, scenario)
    assert codes == [0, 0], ranks.report()
    assert needle in ranks.text(0) and needle in ranks.text(1), ranks.report()


def test_debug_detail_names_mismatched_collectives(worker):
    codes, ranks = run(worker, 2, "order_mismatch", env={"ANNEAL_DISTRIBUTED_DEBUG": "DETAIL"})
    assert codes == [0, 0], ranks.report()
    assert "runs all_reduce" in ranks.text(1) and "broadcast" in ranks.text(1), ranks.report()


def test_killed_rank_fails_the_others_fast(worker):
    ranks = Ranks([worker, "train_forever"], 3, env={"ANNEAL_DISTRIBUTED_TIMEOUT": "120"})
    try:
        assert ranks.wait_for(0, "step 3", 60), ranks.report()
        killed_at = time.monotonic()
        ranks.procs[1].send_signal(signal.SIGKILL)
        for r in (0, 2):
            ranks.procs[r].wait(timeout=30)
        took = time.monotonic() - killed_at
    finally:
        codes = ranks.wait(5)
    assert codes[0] not in (0, None) and codes[2] not in (0, None), ranks.report()
    assert took < 30, took
    # the survivors name what failed and who is gone
    for r in (0, 2):
        assert "rank 1 is gone" in ranks.text(r) and "#" in ranks.text(r), ranks.report()


def test_stopped_rank_fails_the_others_at_the_timeout(worker):
    ranks = Ranks([worker, "train_forever"], 2, env={"ANNEAL_DISTRIBUTED_TIMEOUT": "5"})
    try:
        assert ranks.wait_for(0, "step 3", 60), ranks.report()
        stopped_at = time.monotonic()
        ranks.procs[1].send_signal(signal.SIGSTOP)
        ranks.procs[0].wait(timeout=40)
        took = time.monotonic() - stopped_at
    finally:
        ranks.procs[1].send_signal(signal.SIGCONT)
        codes = ranks.wait(5)
    assert codes[0] not in (0, None), ranks.report()
    assert 4 <= took < 30, took
    assert "timed out" in ranks.text(0) and "rank 1 has not reached it" in ranks.text(0), ranks.report()


def test_wrong_master_address_is_an_init_timeout(worker):
    # rank 1 alone: nobody hosts the store at this port
    port = free_port()
    env = dict(os.environ, RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
               ANNEAL_INIT_TIMEOUT="3")
    import subprocess
    start = time.monotonic()
    p = subprocess.run([worker, "collectives"], env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - start
    assert p.returncode != 0
    assert "could not connect to the rendezvous store" in p.stderr and str(port) in p.stderr, p.stderr
    assert took < 20, took


@pytest.mark.parametrize("variables,needle", [
    ({"RANK": "0"}, "WORLD_SIZE is not set"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 is not below WORLD_SIZE=2"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x'"),
    ({"RANK": "1", "WORLD_SIZE": "2"}, "MASTER_ADDR is not set"),
    ({"RANK": "0", "WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"}, "contradict"),
])
def test_bad_launcher_variables_are_named(worker, variables, needle):
    import subprocess
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    env.update(variables)
    p = subprocess.run([worker, "collectives"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and needle in p.stderr, p.stderr


# ---- the launcher (anneal launch) and the Trainer under DDP ----

def cli():
    path = os.environ.get("ANNEAL_CLI")
    if not path or not os.path.exists(path):
        pytest.fail("ANNEAL_CLI must name the built anneal command (ctest sets it)")
    return path


def launch(args, timeout=180, env=None):
    import subprocess
    return subprocess.run([cli(), "launch", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def digest(output, rank=0):
    for line in output.splitlines():
        if f"rank {rank} final step" in line:
            return line.split("digest ")[1]
    raise AssertionError(output)


def test_launch_restart_after_a_killed_rank_equals_an_uninterrupted_run(worker, tmp_path):
    plain = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "a"), "12"])
    assert plain.returncode == 0, plain.stdout + plain.stderr
    killed = launch(["--nproc-per-node", "2", "--max-restarts", "1", "--", worker, "trainer", str(tmp_path / "b"), "12"],
                    env={"ANNEAL_TEST_DIE_AT_STEP": "5"})
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert "rank 1" in killed.stderr and "restarting the group" in killed.stderr, killed.stderr
    assert "resumed from" in killed.stdout, killed.stdout
    # bitwise: the digest is printed with 17 significant digits
    assert digest(killed.stdout) == digest(plain.stdout) == digest(plain.stdout, 1)
    # rank 0 alone wrote the records
    assert (tmp_path / "a" / "metrics.jsonl").exists()


def test_launch_without_restarts_exits_with_the_failing_status(worker, tmp_path):
    killed = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "c"), "12"],
                    env={"ANNEAL_TEST_DIE_AT_STEP": "3"})
    assert killed.returncode == 128 + signal.SIGKILL, killed.stderr
    failing = launch(["--nproc-per-node", "3", "--", "sh", "-c", 'echo "hello $RANK of $WORLD_SIZE"; sleep 0.5; exit $((RANK + 3))'])
    assert failing.returncode in (3, 4, 5), failing.stderr
    for r in range(3):
        assert f"[rank{r}]: hello {r} of 3" in failing.stdout, failing.stdout


def test_a_two_rank_checkpoint_resumes_on_one_rank(worker, tmp_path):
    full = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "a"), "12"])
    half = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "b"), "6"])
    rest = launch(["--nproc-per-node", "1", "--", worker, "trainer", str(tmp_path / "b"), "12"])
    assert full.returncode == half.returncode == rest.returncode == 0, rest.stdout + rest.stderr
    assert "resumed from" in rest.stdout
    assert abs(float(digest(rest.stdout)) - float(digest(full.stdout))) < 1e-10


def test_launch_forwards_sigterm_and_leaves_no_rank_behind(worker):
    import subprocess
    p = subprocess.Popen([cli(), "launch", "--nproc-per-node", "2", "--", worker, "train_forever"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2, children
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "[rank0]: rank 0 step" in out
    for c in children:
        assert not os.path.exists(f"/proc/{c}") or open(f"/proc/{c}/stat").read().split()[2] == "Z"


# ---- two hosts: network namespaces joined by a veth pair ----

@pytest.fixture
def two_hosts():
    """Two network namespaces, 10.77.x.1 and 10.77.x.2 on a veth pair (the project's own
    test addresses); skips when this machine cannot make them (no root, no iproute2)."""
    import shutil
    import subprocess
    ip = shutil.which("ip") or ("/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else None)
    if not ip:
        pytest.skip("two-host test: iproute2's `ip` is not installed")
    tag = f"{os.getpid() % 100000}"
    a, b, subnet = f"annA{tag}", f"annB{tag}", 77 + os.getpid() % 100
    va, vb = f"va{tag}", f"vb{tag}"

    def sh(*cmd):
        return subprocess.run([ip, *cmd], capture_output=True, text=True)

    made = sh("netns", "add", a)
    if made.returncode != 0:
        pytest.skip(f"two-host test: cannot create network namespaces here ({made.stderr.strip()})")
    try:
        steps = [("netns", "add", b), ("link", "add", va, "type", "veth", "peer", "name", vb),
                 ("link", "set", va, "netns", a), ("link", "set", vb, "netns", b),
                 ("-n", a, "addr", "add", f"10.{subnet}.0.1/24", "dev", va),
                 ("-n", b, "addr", "add", f"10.{subnet}.0.2/24", "dev", vb),
                 ("-n", a, "link", "set", va, "up"), ("-n", b, "link", "set", vb, "up"),
                 ("-n", a, "link", "set", "lo", "up"), ("-n", b, "link", "set", "lo", "up")]
        for s in steps:
            r = sh(*s)
            if r.returncode != 0:
                pytest.skip(f"two-host test: `ip {' '.join(s)}` failed: {r.stderr.strip()}")
        yield ip, (a, f"10.{subnet}.0.1"), (b, f"10.{subnet}.0.2")
    finally:
        sh("netns", "del", a)
        sh("netns", "del", b)


def test_two_hosts_train_as_one(worker, two_hosts, tmp_path):
    ip, (ns_a, addr_a), (ns_b, _) = two_hosts
    # rank 0 (hosting the store) on host A, rank 1 on host B, MASTER_ADDR on the veth
    ranks = Ranks([worker, "trainer", str(tmp_path / "netns"), "8"], 2, master_addr=addr_a,
                  prefix=lambda r: [ip, "netns", "exec", ns_a if r == 0 else ns_b])
    codes = ranks.wait(120)
    assert codes == [0, 0], ranks.report()
    local = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "local"), "8"])
    assert local.returncode == 0, local.stderr
    assert digest(ranks.text(0)) == digest(ranks.text(1), 1) == digest(local.stdout)
    # and the DDP step itself across the hosts equals one process
    ranks = Ranks([worker, "ddp", "mlp64"], 2, master_addr=addr_a,
                  prefix=lambda r: [ip, "netns", "exec", ns_a if r == 0 else ns_b])
    assert ranks.wait(120) == [0, 0], ranks.report()


# ---- ZeRO stage 1 ----

@pytest.mark.parametrize("n", [2, 3])
def test_zero_equals_adamw(worker, n):
    codes, ranks = run(worker, n, "zero")
    assert codes == [0] * n, ranks.report()
    assert "zero ok" in ranks.text(0), ranks.report()


def test_zero_checkpoint_saved_on_n_ranks_resumes_on_m(worker, tmp_path):
    full = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "full"), "12", "--zero"])
    assert full.returncode == 0, full.stdout + full.stderr
    # ZeRO's sharded AdamW trains exactly as DDP + AdamW
    ddp = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "ddp"), "12"])
    assert abs(float(digest(full.stdout)) - float(digest(ddp.stdout))) < 1e-12
    for first, second, name in ((2, 1, "a"), (1, 2, "b")):
        half = launch(["--nproc-per-node", str(first), "--", worker, "trainer", str(tmp_path / name), "6", "--zero"])
        rest = launch(["--nproc-per-node", str(second), "--", worker, "trainer", str(tmp_path / name), "12", "--zero"])
        assert half.returncode == rest.returncode == 0, rest.stdout + rest.stderr
        assert "resumed from" in rest.stdout
        assert abs(float(digest(rest.stdout)) - float(digest(full.stdout))) < 1e-10, (first, second)


# ---- the other ways in: tcp:// and file:// init methods, Open MPI's mpirun ----

@pytest.mark.parametrize("method", ["tcp", "file"])
def test_init_methods(worker, method, tmp_path):
    port = free_port()
    im = f"tcp://127.0.0.1:{port}" if method == "tcp" else f"file://{tmp_path}/rendezvous"
    # rank and world size as arguments (the worker passes TEST_RANK / TEST_WORLD_SIZE)
    ranks = Ranks([worker, "collectives"], 2,
                  per_rank_env=lambda r: {"ANNEAL_TEST_INIT_METHOD": im, "TEST_RANK": str(r), "TEST_WORLD_SIZE": "2"})
    codes = ranks.wait(120)
    assert codes == [0, 0], ranks.report()
    if method == "file":
        assert not os.path.exists(f"{tmp_path}/rendezvous"), "rank 0 removes the rendezvous file"


def test_mpirun_starts_ranks_from_open_mpi_variables(worker):
    import shutil
    import subprocess
    mpirun = shutil.which("mpirun")
    if not mpirun:
        pytest.skip("Open MPI's mpirun is not installed (openmpi-bin)")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    port = free_port()
    p = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "3", "-x", "MASTER_ADDR=127.0.0.1",
                        "-x", f"MASTER_PORT={port}", "-x", "ANNEAL_NUM_THREADS=1", worker, "ddp", "mlp"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    for r in range(3):
        assert f"rank {r}: ddp mlp ok" in p.stdout, p.stdout


def test_srun_starts_ranks_from_slurm_variables(worker, tmp_path):
    import subprocess
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))
    from slurm import SlurmCluster, Unavailable
    try:
        cluster = SlurmCluster(tmp_path / "slurm").__enter__()
    except Unavailable as e:
        pytest.skip(f"SLURM: {e}")
    try:
        env = {k: v for k, v in cluster.env.items()
               if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR")}
        env.update(MASTER_PORT=str(free_port()), ANNEAL_NUM_THREADS="1")
        # MASTER_ADDR is left out: it comes from the first host of SLURM_JOB_NODELIST
        p = subprocess.run(["srun", "-n", "2", "--overcommit", worker, "ddp", "mlp"], env=env, capture_output=True,
                           text=True, timeout=180)
    finally:
        cluster.__exit__(None, None, None)
    assert p.returncode == 0, p.stdout + p.stderr
    for r in range(2):
        assert f"rank {r}: ddp mlp ok" in p.stdout, p.stdout


def test_sigterm_stops_every_rank_and_keeps_the_last_checkpoint(worker, tmp_path):
    import json
    import subprocess
    run_dir = tmp_path / "run"
    p = subprocess.Popen([cli(), "launch", "--nproc-per-node", "2", "--", worker, "trainer", str(run_dir), "40"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, ANNEAL_TEST_STEP_SLEEP_MS="60"))
    try:
        metrics = run_dir / "metrics.jsonl"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            steps = [json.loads(l).get("step", 0) for l in metrics.read_text().splitlines()] if metrics.exists() else []
            if steps and max(steps) >= 8:
                break
            time.sleep(0.05)
        assert steps and max(steps) >= 8, "the run did not get going"
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGTERM
    assert (run_dir / "checkpoint.ckpt").exists()
    # the kept checkpoint resumes, and the run ends as one that never stopped
    rest = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(run_dir), "40"])
    full = launch(["--nproc-per-node", "2", "--", worker, "trainer", str(tmp_path / "full"), "40"])
    assert rest.returncode == full.returncode == 0, rest.stdout + rest.stderr
    assert "resumed from" in rest.stdout
    assert digest(rest.stdout) == digest(full.stdout)
