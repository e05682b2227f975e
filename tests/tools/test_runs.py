"""`anneal run`, `anneal runs ...` and `anneal resume` as a user runs them: real processes,
real files, a real SQLite registry (and PostgreSQL in test_registry_postgres.py)."""
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time

import pytest

PY = "/usr/bin/python3"


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def wait_for(pred, timeout=60, what="a condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


TRAIN_SCRIPT = """
import sys
import anneal.tracking as mlflow
lr = float(sys.argv[1]); out = sys.argv[2]
mlflow.log_params({"lr": lr, "script": "train.py"})
for step in range(20):
    mlflow.log_metric("loss", 1.0 / (1 + step * lr), step=step)
mlflow.log_metric("accuracy", 50 + 100 * lr)
mlflow.set_tag("phase", "done")
open(out + "/model.txt", "w").write("weights")
print("trained with lr", lr)
"""


def command_job(tmp_path, lr=0.1, extra=""):
    write(tmp_path / "train.py", TRAIN_SCRIPT)
    return write(tmp_path / "job.yaml", f"""\
        experiment: cmd
        command: {PY} train.py ${{{{inputs.lr}}}} ${{{{outputs.model}}}}
        inputs:
          lr: {lr}
        outputs:
          model: {{type: uri_folder}}
        environment_variables: {{MY_SETTING: "on"}}
        tags: {{team: core}}
        {extra}
        """)


def test_a_command_job_is_recorded_with_its_metrics_params_logs_and_outputs(anneal, tmp_path):
    job = command_job(tmp_path)
    r = anneal("run", job, "--name", "first")
    rid = anneal.run_id(r)
    assert "trained with lr 0.1" in r.stdout
    run = anneal.show(rid)
    assert run["status"] == "completed" and run["exit_code"] == 0
    assert run["name"] == "first" and run["experiment"] == "cmd"
    assert run["params"]["lr"] == "0.1" and run["params"]["inputs.lr"] == "0.1"
    assert run["tags"]["team"] == "core" and run["tags"]["phase"] == "done"
    assert run["metrics"]["loss"]["count"] == 20
    assert run["metrics"]["loss"]["last"] == pytest.approx(1 / (1 + 19 * 0.1))
    assert run["metrics"]["accuracy"]["last"] == pytest.approx(60)
    folder = run["folder"]
    assert folder == os.path.join(anneal.root, "cmd", rid)
    for f in ("job.yaml", "resolved.yaml", "environment.json", "stdout.log", "stderr.log", "metrics.jsonl",
              "params.json", "run.json", "outputs/model/model.txt"):
        assert os.path.exists(os.path.join(folder, f)), f
    assert "trained with lr 0.1" in open(os.path.join(folder, "stdout.log")).read()
    resolved = open(os.path.join(folder, "resolved.yaml")).read()
    assert "${{" not in resolved and os.path.join(folder, "outputs", "model") in resolved
    env = json.load(open(os.path.join(folder, "environment.json")))
    assert {"anneal", "compiler", "cpu", "threads", "environment_variables"} <= env.keys()
    assert env["job_environment_variables"] == {"MY_SETTING": "on"}
    lines = [json.loads(l) for l in open(os.path.join(folder, "metrics.jsonl"))]
    assert [l["step"] for l in lines if "loss" in l] == list(range(20))
    # listed, filtered and sorted
    anneal("run", command_job(tmp_path, lr=0.3), "--name", "second")
    names = [x["name"] for x in anneal.runs("--sort", "-metric.accuracy")]
    assert names == ["second", "first"]
    assert [x["name"] for x in anneal.runs("--where", "metric.accuracy < 70 and param.lr = 0.1")] == ["first"]
    assert anneal.runs("--where", "status = failed") == []
    table = anneal("runs", "list").stdout
    assert "first" in table and "second" in table and "accuracy" in table
    bad = anneal("runs", "list", "--where", "metric.accuracy <<", check=False)
    assert bad.returncode != 0 and "--where" in bad.stderr


def test_compare_marks_differences_and_diffs_the_configs(anneal, tmp_path):
    a = anneal.run_id(anneal("run", command_job(tmp_path, lr=0.1)))
    b = anneal.run_id(anneal("run", command_job(tmp_path, lr=0.2)))
    out = anneal("runs", "compare", a, b).stdout
    assert "* lr" in out and "  script" in out  # lr differs, script does not
    assert "* accuracy (last)" in out
    assert "-   lr: 0.1" in out and "+   lr: 0.2" in out


def test_a_failing_program_is_recorded_failed_with_its_exit_code_and_error(anneal, tmp_path):
    job = write(tmp_path / "fail.yaml", f"""\
        command: {PY} -c "import sys; print('disk on fire', file=sys.stderr); sys.exit(3)"
        """)
    r = anneal("run", job, check=False)
    assert r.returncode == 3
    run = anneal.show(anneal.run_id(r))
    assert run["status"] == "failed" and run["exit_code"] == 3
    assert "exit code 3" in run["error"] and "disk on fire" in run["error"]
    # a program killed by a signal
    job = write(tmp_path / "segv.yaml", f"""\
        command: {PY} -c "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
        """)
    r = anneal("run", job, check=False)
    run = anneal.show(anneal.run_id(r))
    assert run["status"] == "failed" and "signal 11" in run["error"]
    # a program that cannot start
    job = write(tmp_path / "none.yaml", "command: no-such-program-anywhere --x\n")
    run = anneal.show(anneal.run_id(anneal("run", job, check=False)))
    assert run["status"] == "failed" and run["exit_code"] == 127


def test_an_output_the_run_did_not_produce_fails_it(anneal, tmp_path):
    job = write(tmp_path / "job.yaml", """\
        command: echo nothing written to ${{outputs.model}}
        outputs: {model: {type: uri_folder}}
        """)
    run = anneal.show(anneal.run_id(anneal("run", job, check=False)))
    assert run["status"] == "failed" and "output 'model'" in run["error"]


def test_a_bad_job_file_runs_nothing_and_says_where(anneal, tmp_path):
    job = write(tmp_path / "job.yaml", "command: echo hi\nlimits:\n  timout: 5\n")
    r = anneal("run", job, check=False)
    assert r.returncode == 2
    assert f"{job}:3: limits.timout: unknown key; did you mean 'timeout'?" in r.stderr
    assert not os.path.exists(anneal.root) or anneal.runs() == []
    r = anneal("run", tmp_path / "missing.yaml", check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_timeout_stops_the_program_and_marks_the_run_canceled(anneal, tmp_path):
    job = write(tmp_path / "job.yaml", f"""\
        command: {PY} -c "import time; print('started', flush=True); time.sleep(60)"
        limits: {{timeout: 1s}}
        """)
    t0 = time.time()
    r = anneal("run", job, check=False)
    assert time.time() - t0 < 20
    run = anneal.show(anneal.run_id(r))
    assert run["status"] == "canceled" and "timed out" in run["error"]


def test_cancel_stops_a_detached_run_and_everything_it_started(anneal, tmp_path):
    marker = tmp_path / "child.pid"
    job = write(tmp_path / "job.yaml", f"""\
        command: sh -c 'sleep 300 & echo $! > {marker}; wait'
        """)
    r = anneal("run", job, "--detach")
    rid = anneal.run_id(r)
    wait_for(lambda: anneal.show(rid)["status"] == "running" and marker.exists(), what="the run to start")
    grandchild = int(wait_for(lambda: marker.read_text().strip(), what="the child's pid"))
    out = anneal("runs", "cancel", rid).stdout
    assert "canceled" in out
    run = anneal.show(rid)
    assert run["status"] == "canceled" and "anneal runs cancel" in run["error"]
    # the sleep the command started in the background is gone too (its process group)
    def gone():
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return True
        return open(f"/proc/{grandchild}/stat").read().split(")")[1].split()[0] == "Z"
    wait_for(gone, 15, "the program's child to end")


def test_logs_follow_prints_until_the_run_ends(anneal, tmp_path):
    job = write(tmp_path / "job.yaml", f"""\
        command: {PY} -c "import time; [print('line', i, flush=True) or time.sleep(0.2) for i in range(5)]"
        """)
    rid = anneal.run_id(anneal("run", job, "--detach"))
    out = anneal("runs", "logs", rid, "--follow", timeout=60).stdout
    assert [l for l in out.splitlines() if l.startswith("line")] == [f"line {i}" for i in range(5)]
    assert anneal.show(rid)["status"] == "completed"


def test_rm_asks_first_and_removes_the_folder(anneal, tmp_path):
    rid = anneal.run_id(anneal("run", command_job(tmp_path)))
    folder = anneal.show(rid)["folder"]
    r = anneal("runs", "rm", rid, input="n\n", check=False)
    assert r.returncode != 0 and os.path.exists(folder)
    anneal("runs", "rm", rid, "--yes")
    assert not os.path.exists(folder) and anneal.runs() == []
    assert anneal("runs", "show", rid, check=False).returncode != 0


# --- kill -9 and resume -------------------------------------------------------------

TRAIN_JOB = """\
    experiment: fmnist
    model: {name: mlp, sizes: [784, 64, 10]}
    data: {name: fashion_mnist, limit: 12000}
    optimizer: {name: sgd, lr: 0.05}
    schedule: {name: cosine}
    epochs: 2
    batch_size: 32
    checkpoint_every: 40
    log_every: 10
    seed: 5
    """


def curves(folder):
    """The training's records (the system/* samples depend on timing, and go)."""
    out = []
    for line in open(os.path.join(folder, "metrics.jsonl")):
        d = json.loads(line)
        if any(k.startswith("system/") for k in d):
            continue
        out.append({k: v for k, v in d.items() if k not in ("time", "time_s", "samples_per_s")})
    return out


def test_kill_9_then_resume_finishes_with_the_parameters_of_an_uninterrupted_run(anneal, tmp_path):
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist; scripts/data.sh)")
    job = write(tmp_path / "train.yaml", TRAIN_JOB)
    straight = anneal.show(anneal.run_id(anneal("run", job, "--name", "straight")))
    assert straight["status"] == "completed"
    # the same job, killed (the supervisor, with SIGKILL) once a checkpoint exists
    p = subprocess.Popen([anneal.exe, "run", str(job), "--name", "killed"], env=anneal.env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = p.stdout.readline()
    rid = first.split()[2]
    folder = os.path.join(anneal.root, "fmnist", rid)
    wait_for(lambda: os.path.exists(os.path.join(folder, "checkpoints", "checkpoint.ckpt")), 120, "a checkpoint")
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    # the next look finds it gone: failed, not running forever
    run = wait_for(lambda: (lambda r: r if r["status"] == "failed" else None)(anneal.show(rid)), 30, "failed")
    assert "gone" in run["error"]
    r = anneal("resume", rid)
    assert "resumed from" in r.stdout
    resumed = anneal.show(rid)
    assert resumed["status"] == "completed" and resumed["error"] == ""
    a = open(os.path.join(straight["folder"], "checkpoints", "checkpoint.ckpt"), "rb").read()
    b = open(os.path.join(folder, "checkpoints", "checkpoint.ckpt"), "rb").read()
    assert a == b, "the resumed run's final checkpoint differs from the uninterrupted run's"
    assert curves(straight["folder"]) == curves(folder)
    assert resumed["metrics"]["test_accuracy"]["last"] == straight["metrics"]["test_accuracy"]["last"]
    assert resumed["metrics"]["loss"]["count"] == straight["metrics"]["loss"]["count"]
    # a completed run has nothing to resume
    again = anneal("resume", rid, check=False)
    assert again.returncode == 2 and "completed" in again.stderr


# --- the Python API outside `anneal run` ---------------------------------------------

def test_python_tracking_outside_anneal_run_creates_and_ends_its_own_run(anneal, tmp_path):
    script = write(tmp_path / "own.py", """\
        import sys, time
        import anneal.tracking as mlflow
        mlflow.set_experiment("scripts")
        t = time.perf_counter()
        for i in range(100000):
            mlflow.log_metric("x", i * 0.5, step=i)
        print("cost", time.perf_counter() - t)
        if sys.argv[1] == "crash":
            raise RuntimeError("crashed on purpose")
        """)
    ok = subprocess.run([PY, script, "fine"], env=anneal.env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    cost = float(ok.stdout.split()[-1])
    assert cost < 5, f"logging 100,000 points took {cost} s"  # (measured in bench/; here only a sanity bound)
    crash = subprocess.run([PY, script, "crash"], env=anneal.env, capture_output=True, text=True, timeout=120)
    assert crash.returncode != 0 and "crashed on purpose" in crash.stderr
    runs = {r["status"]: r for r in anneal.runs("--experiment", "scripts")}
    assert set(runs) == {"completed", "failed"}
    assert runs["completed"]["metrics"]["x"]["count"] == 100000
    assert runs["completed"]["metrics"]["x"]["last"] == 49999.5


# --- many writers --------------------------------------------------------------------

WRITER = """
import sys
import anneal.tracking as mlflow
rank = int(sys.argv[1])
for i in range(2000):
    mlflow.log_metric(f"rank{rank}", float(i), step=i)
mlflow.log_param(f"rank{rank}", "done")
"""


def many_writers(anneal, tmp_path, n=16):
    """n processes log 2,000 points each into one run at once (as ranks of a job do)."""
    write(tmp_path / "writer.py", WRITER)
    job = write(tmp_path / "job.yaml", f"""\
        command: {PY} -c "import subprocess, sys; ps = [subprocess.Popen([sys.executable, 'writer.py', str(r)]) for r in range({n})]; sys.exit(max(p.wait() for p in ps))"
        """)
    run = anneal.show(anneal.run_id(anneal("run", job, timeout=600)))
    assert run["status"] == "completed", run["error"]
    for r in range(n):
        m = run["metrics"][f"rank{r}"]
        assert m["count"] == 2000 and m["last"] == 1999 and m["min"] == 0, (r, m)
        assert run["params"][f"rank{r}"] == "done"
    lines = [json.loads(l) for l in open(os.path.join(run["folder"], "metrics.jsonl"))]
    # (the supervisor's system samples share the file once a run outlasts the sampling period)
    lines = [l for l in lines if not any(k.startswith("system/") for k in l)]
    assert len(lines) == n * 2000
    params = json.load(open(os.path.join(run["folder"], "params.json")))
    assert all(params[f"rank{r}"] == "done" for r in range(n))
    return run


def test_sixteen_concurrent_writers_lose_nothing_on_sqlite(anneal, tmp_path):
    many_writers(anneal, tmp_path)


# --- export --------------------------------------------------------------------------

def crc32c(data):
    """CRC-32C, bit by bit (independent of anneal's table-driven one)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """A protobuf message's fields: [(number, wire type, value)]."""
    i, out = 0, []
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise AssertionError(f"wire type {wire}")
        out.append((num, wire, v))
    return out


def read_events(path):
    data = open(path, "rb").read()
    i, events = 0, []
    while i < len(data):
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[i + 8:i + 12])
        assert hcrc == masked(crc32c(header)), "length CRC"
        body = data[i + 12:i + 12 + n]
        (bcrc,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
        assert bcrc == masked(crc32c(body)), "data CRC"
        i += 16 + n
        ev = {"step": 0}
        for num, wire, v in fields(body):
            if num == 1:
                ev["wall_time"] = struct.unpack("<d", v)[0]
            elif num == 2:
                ev["step"] = v
            elif num == 3:
                ev["file_version"] = v.decode()
            elif num == 5:
                for vn, _, value in fields(v):
                    assert vn == 1
                    f = {n: x for n, _, x in fields(value)}
                    ev["tag"] = f[1].decode()
                    ev["value"] = struct.unpack("<f", f[2])[0]
        events.append(ev)
    return events


def test_export_writes_csv_json_and_tensorboard_events_an_independent_reader_decodes(anneal, tmp_path):
    rid = anneal.run_id(anneal("run", command_job(tmp_path, lr=0.1)))
    out = tmp_path / "export"
    csv_path = anneal("runs", "export", rid, "--format", "csv", "--out", out).stdout.strip()
    rows = open(csv_path).read().splitlines()
    assert rows[0] == "run_id,key,step,timestamp,value" and len(rows) == 1 + 21
    assert any(r.startswith(f"{rid},loss,19,") for r in rows)
    j = json.load(open(anneal("runs", "export", rid, "--format", "json", "--out", out).stdout.strip()))
    assert len(j["metrics"]["loss"]) == 20 and j["metrics"]["loss"][0] == {
        "step": 0, "timestamp": j["metrics"]["loss"][0]["timestamp"], "value": 1.0}
    tb = anneal("runs", "export", rid, "--format", "tensorboard", "--out", out).stdout.strip()
    assert os.path.basename(tb).startswith("events.out.tfevents.")
    events = read_events(tb)
    assert events[0]["file_version"] == "brain.Event:2"
    loss = [(e["step"], e["value"]) for e in events if e.get("tag") == "loss"]
    assert [s for s, _ in loss] == list(range(20))
    assert all(v == pytest.approx(1 / (1 + s * 0.1), rel=1e-6) for s, v in loss)
    assert [e["value"] for e in events if e.get("tag") == "accuracy"] == [pytest.approx(60)]
    bad = anneal("runs", "export", rid, "--format", "xml", check=False)
    assert bad.returncode != 0


def test_the_run_records_what_its_processes_use(anneal, tmp_path):
    # two busy children for ~3 s: the samples count them (a process tree, not one pid)
    write(tmp_path / "busy.py", """\
        import subprocess, sys, time
        if sys.argv[1:] == ["spin"]:
            t = time.time()
            while time.time() - t < 3:
                pass
        else:
            ps = [subprocess.Popen([sys.executable, __file__, "spin"]) for _ in range(2)]
            sys.exit(max(p.wait() for p in ps))
        """)
    job = write(tmp_path / "job.yaml", f"command: {PY} busy.py\n")
    anneal.env["ANNEAL_MONITOR_INTERVAL"] = "0.5"
    run = anneal.show(anneal.run_id(anneal("run", job)))
    m = run["metrics"]
    assert m["system/cpu_percent"]["count"] >= 4
    assert m["system/cpu_percent"]["max"] > 50  # two spinning processes: up to 200
    assert m["system/processes"]["max"] >= 3     # the program and its two children
    assert m["system/rss_mb"]["max"] > 1
    assert not any(k.startswith("system/gpu") for k in m) or os.path.exists("/dev/nvidia0")
    out = anneal("runs", "show", run["id"]).stdout
    assert "compute    CPU" in out
