"""`anneal sweep` end to end: trials whose curves are fixed in the test, cancelled by each
policy exactly where an independent implementation of Azure ML's rule says; concurrency
limits; kill -9 of the sweep then `sweep resume`; trial timeouts."""
import json
import os
import signal
import subprocess
import textwrap
import time

import pytest

PY = "/usr/bin/python3"

# curve i: the primary metric the trial logs at intervals 1, 2, ...
CURVES = [
    [0.50, 0.60, 0.70, 0.80, 0.85],
    [0.40, 0.45, 0.47, 0.48, 0.49],
    [0.55, 0.62, 0.66, 0.69, 0.71],
    [0.20, 0.25, 0.30, 0.35, 0.40],
    [0.52, 0.58, 0.75, 0.86, 0.90],
]

TRIAL = """
import json, sys, time
import anneal.tracking as mlflow
curve = json.loads(sys.argv[2])[int(sys.argv[1])]
for v in curve:
    mlflow.log_metric("acc", v)
    mlflow.flush()
    time.sleep(float(sys.argv[3]))
"""


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def sweep_file(tmp_path, policy, goal="maximize", concurrent=1, pause=0.15, curves=CURVES, extra=""):
    write(tmp_path / "trial.py", TRIAL)
    (tmp_path / "curves.json").write_text(json.dumps(curves))
    return write(tmp_path / "sweep.yaml", f"""\
        experiment: sweeps
        trial:
          command: {PY} trial.py ${{{{search_space.curve}}}} "$(cat curves.json)" {pause}
        search_space:
          curve: {{type: choice, values: {list(range(len(curves)))}}}
        sampling_algorithm: grid
        objective: {{primary_metric: acc, goal: {goal}}}
        limits: {{max_concurrent_trials: {concurrent}}}
        early_termination: {policy}
        {extra}
        """)


def reference(policy, curves, maximize=True):
    """Azure ML's rules, trials one after another (as max_concurrent_trials 1 runs them):
    the interval at which each trial is cancelled, or None."""
    better = (lambda a, b: a > b) if maximize else (lambda a, b: a < b)
    done, out = [], []
    for c in curves:
        stop = None
        for k in range(1, len(c) + 1):
            if k < max(policy.get("delay_evaluation", 0), 1) or k % policy.get("evaluation_interval", 1):
                continue
            others = [d for d in done if len(d) >= k] + [c[:k]]
            mine = max(c[:k]) if maximize else min(c[:k])
            if policy["type"] == "bandit":
                best = (max if maximize else min)(d[k - 1] for d in others)
                if "slack_factor" in policy:
                    limit = best / (1 + policy["slack_factor"]) if maximize else best * (1 + policy["slack_factor"])
                else:
                    limit = best - policy["slack_amount"] if maximize else best + policy["slack_amount"]
                if better(limit, mine):
                    stop = k
            elif policy["type"] == "median_stopping":
                avgs = sorted(sum(d[:k]) / k for d in others)
                n = len(avgs)
                median = avgs[n // 2] if n % 2 else (avgs[n // 2 - 1] + avgs[n // 2]) / 2
                if better(median, mine):
                    stop = k
            if stop:
                break
        out.append(stop)
        done.append(c if stop is None else c[:stop])
    return out


def trials_of(anneal, sweep_id):
    return json.loads(anneal("sweep", "show", sweep_id, "--json").stdout)["trials"]


def sweep_id(result):
    return result.stdout.split("anneal: sweep ")[1].split()[0]


@pytest.mark.parametrize("policy", [
    {"type": "bandit", "slack_factor": 0.2, "delay_evaluation": 2},
    {"type": "bandit", "slack_amount": 0.1, "evaluation_interval": 2},
    {"type": "median_stopping", "delay_evaluation": 1},
])
def test_policies_cancel_where_the_rule_says(anneal, tmp_path, policy):
    yaml_policy = "{" + ", ".join(f"{k}: {v}" for k, v in policy.items()) + "}"
    sid = sweep_id(anneal("sweep", sweep_file(tmp_path, yaml_policy)))
    trials = trials_of(anneal, sid)
    assert [t["index"] for t in trials] == list(range(len(CURVES)))
    want = reference(policy, CURVES)
    got = [t["intervals"] if t["status"] == "canceled" else None for t in trials]
    # a canceled trial may log one more point while SIGTERM reaches it: the decision is
    # recorded with its interval
    decided = [int(t["termination"].split("at interval ")[1].split(":")[0]) if t["termination"] else None
               for t in trials]
    assert decided == want, (trials, want)
    for t, w in zip(trials, want):
        assert t["status"] == ("canceled" if w else "completed"), t
    assert any(want), "the curves should make the policy cancel something"


def test_minimising_sweeps_mirror_the_rule(anneal, tmp_path):
    losses = [[1 - v for v in c] for c in CURVES]
    policy = {"type": "bandit", "slack_factor": 0.3}
    sid = sweep_id(anneal("sweep", sweep_file(tmp_path, "{type: bandit, slack_factor: 0.3}", goal="minimize",
                                                curves=losses)))
    trials = trials_of(anneal, sid)
    decided = [int(t["termination"].split("at interval ")[1].split(":")[0]) if t["termination"] else None
               for t in trials]
    assert decided == reference(policy, losses, maximize=False)


def test_concurrency_is_capped_and_the_best_trial_is_reported(anneal, tmp_path):
    curves = [[0.1 * i] * 3 for i in range(6)]
    r = anneal("sweep", sweep_file(tmp_path, "{type: median_stopping, delay_evaluation: 100}", concurrent=2,
                                   curves=curves, pause=0.3))
    sid = sweep_id(r)
    assert "best trial: 5" in r.stdout and "rerun it: anneal run" in r.stdout
    spans = []
    for t in trials_of(anneal, sid):
        run = anneal.show(t["run_id"])
        assert run["status"] == "completed" and run["tags"]["sweep"] == sid
        spans.append((run["started"], run["ended"]))
    for s, _ in spans:  # at no start were more than 2 trials running
        assert sum(1 for a, b in spans if a <= s < b) <= 2, spans
    sweep = anneal.show(sid)
    assert sweep["status"] == "completed" and sweep["tags"]["completed"] == "6"
    assert sweep["metrics"]["best_acc"]["last"] == pytest.approx(0.5)


def test_kill_9_of_the_sweep_then_resume_records_every_trial_once(anneal, tmp_path):
    curves = [[0.1 * i] * 4 for i in range(6)]
    f = sweep_file(tmp_path, "{type: median_stopping, delay_evaluation: 100}", concurrent=2, curves=curves, pause=0.3)
    p = subprocess.Popen([anneal.exe, "sweep", str(f)], env=anneal.env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    sid = p.stdout.readline().split("anneal: sweep ")[1].split()[0]
    deadline = time.time() + 60
    while time.time() < deadline:  # once a couple of trials have started
        state = json.load(open(os.path.join(anneal.root, "sweeps", sid, "sweep.json")))
        if len(state["trials"]) >= 3:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    assert anneal.show(sid)["status"] == "failed"  # found out: its process is gone
    r = anneal("sweep", "resume", sid)
    assert "resuming sweep" in r.stdout
    trials = trials_of(anneal, sid)
    assert sorted(t["index"] for t in trials) == list(range(6))
    assert all(t["status"] in ("completed", "failed") for t in trials), trials
    failed = [anneal.show(t["run_id"])["error"] for t in trials if t["status"] == "failed"]
    assert all(t["status"] == "completed" for t in trials), failed  # orphaned trials finish too
    runs = [x for x in anneal.runs("--experiment", "sweeps") if x["kind"] != "sweep"]
    assert len(runs) == 6  # no trial ran twice
    assert anneal.show(sid)["status"] == "completed"


def test_a_trial_past_its_timeout_is_canceled(anneal, tmp_path):
    write(tmp_path / "slow.py", "import time, sys\nprint('start', flush=True)\ntime.sleep(float(sys.argv[1]))\n")
    f = write(tmp_path / "sweep.yaml", f"""\
        trial:
          command: {PY} slow.py ${{{{search_space.sleep}}}}
        search_space:
          sleep: [0.1, 30]
        sampling_algorithm: grid
        objective: {{primary_metric: acc, goal: maximize}}
        limits: {{trial_timeout: 1s}}
        """)
    t0 = time.time()
    sid = sweep_id(anneal("sweep", f))
    assert time.time() - t0 < 25
    trials = trials_of(anneal, sid)
    assert [t["status"] for t in trials] == ["completed", "canceled"]
    assert "timed out" in anneal.show(trials[1]["run_id"])["error"]
