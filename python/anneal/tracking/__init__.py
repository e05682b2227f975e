"""Logging into a run, with MLflow's fluent names, so MLflow habits carry over:

    import anneal.tracking as mlflow          # or: from anneal import tracking
    with mlflow.start_run(experiment="fmnist"):
        mlflow.log_params({"lr": 0.1, "batch": 128})
        for step in range(100):
            mlflow.log_metric("loss", loss, step=step)

Inside `anneal run` every call logs into that run (ANNEAL_RUN_ID); elsewhere the first call
(or start_run) creates a run under ./runs (ANNEAL_RUNS_DIR) in the registry runs/anneal.db
(ANNEAL_TRACKING_URI). Calls only queue records: a background thread writes them to the
run folder and the registry every second, so logging costs microseconds.
"""
import atexit as _atexit
import os as _os
import sys as _sys

from anneal import _C

_c = _C.tracking

# MLflow's run statuses -> anneal's
_STATUS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "canceled",
           "completed": "completed", "failed": "failed", "canceled": "canceled"}
_experiment = None
_tracking_uri = None


class RunInfo:
    def __init__(self, run_id, run_dir):
        self.run_id = run_id
        self.run_name = run_id
        self.artifact_uri = _os.path.join(run_dir, "artifacts")
        self.run_dir = run_dir

    def __repr__(self):
        return f"RunInfo(run_id={self.run_id!r}, run_dir={self.run_dir!r})"


class ActiveRun:
    """What start_run returns; a context manager that ends the run (failed on an exception)."""

    def __init__(self, run_id, run_dir):
        self.info = RunInfo(run_id, run_dir)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        end_run("FAILED" if exc_type is not None else "FINISHED")
        return False

    def __repr__(self):
        return f"<ActiveRun: run_id={self.info.run_id}>"


def set_experiment(experiment_name):
    """The experiment of runs started from now on (MLflow's set_experiment)."""
    global _experiment
    _experiment = str(experiment_name)


def set_tracking_uri(uri):
    """The registry of runs started from now on: a .db path, sqlite:PATH or postgresql://..."""
    global _tracking_uri
    _tracking_uri = str(uri)


def get_tracking_uri():
    return _tracking_uri or _os.environ.get("ANNEAL_TRACKING_URI") or "sqlite:" + _os.path.join(
        _os.path.abspath(_os.environ.get("ANNEAL_RUNS_DIR") or "runs"), "anneal.db")


def start_run(run_name=None, experiment=None, tags=None, runs_dir=None, tracking_uri=None, **_ignored):
    """Starts a run owned by this process. Inside `anneal run` the run already exists: the
    call returns it instead (so a script written for MLflow runs unchanged there)."""
    rid = _c.active_run_id()
    if rid is not None:
        if _os.environ.get("ANNEAL_RUN_ID") == rid:
            return ActiveRun(rid, _c.run_dir())
        raise RuntimeError(f"run {rid} is active; end_run() it before starting another")
    rid = _c.start_run(experiment=str(experiment or _experiment or ""), name=str(run_name or ""),
                       runs_root=str(runs_dir or ""), tracking_uri=str(tracking_uri or _tracking_uri or ""),
                       tags={str(k): str(v) for k, v in (tags or {}).items()})
    _install_failure_hook()
    return ActiveRun(rid, _c.run_dir())


def end_run(status="FINISHED"):
    """Ends the run this process started (FINISHED, FAILED or KILLED; anneal's completed,
    failed, canceled also work). Inside `anneal run` it only flushes."""
    if status not in _STATUS:
        raise ValueError(f"end_run: status must be FINISHED, FAILED or KILLED, got {status!r}")
    _c.end_run(_STATUS[status])


def active_run():
    rid = _c.active_run_id()
    return None if rid is None else ActiveRun(rid, _c.run_dir())


def _number(value, what):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number (or a one-element tensor), got {type(value).__name__}") from None


def _step(step):
    if step is None:
        return -1
    if isinstance(step, bool) or int(step) != step or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    return int(step)


def _ensure_run():
    # the first call outside `anneal run` starts a run with set_experiment's and
    # set_tracking_uri's choices
    if _c.active_run_id() is None:
        start_run()


def log_metric(key, value, step=None):
    """Records value at step (default: the key's next step: 0, 1, 2, ...)."""
    _ensure_run()
    _c.log_metric(str(key), _number(value, f"log_metric({key!r})"), _step(step))


def log_metrics(metrics, step=None):
    _ensure_run()
    _c.log_metrics({str(k): _number(v, f"log_metrics[{k!r}]") for k, v in metrics.items()}, _step(step))


def log_param(key, value):
    _ensure_run()
    _c.log_param(str(key), str(value))


def log_params(params):
    _ensure_run()
    _c.log_params({str(k): str(v) for k, v in params.items()})


def set_tag(key, value):
    _ensure_run()
    _c.set_tag(str(key), str(value))


def set_tags(tags):
    _ensure_run()
    _c.set_tags({str(k): str(v) for k, v in tags.items()})


def log_artifact(local_path, artifact_path=None):
    """Copies a file (or folder) into the run's artifacts/ and records it."""
    _ensure_run()
    return _c.log_artifact(_os.fspath(local_path), str(artifact_path or ""))


def log_artifacts(local_dir, artifact_path=None):
    for name in sorted(_os.listdir(local_dir)):
        log_artifact(_os.path.join(local_dir, name), artifact_path)


def log_dict(dictionary, artifact_file):
    """Writes a dict as JSON (or YAML-ish text for .yaml) into the run's artifacts."""
    import json
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = _os.path.join(d, _os.path.basename(artifact_file))
        with open(path, "w") as f:
            json.dump(dictionary, f, indent=2)
        log_artifact(path, _os.path.dirname(artifact_file) or None)


def log_text(text, artifact_file):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = _os.path.join(d, _os.path.basename(artifact_file))
        with open(path, "w") as f:
            f.write(text)
        log_artifact(path, _os.path.dirname(artifact_file) or None)


def flush():
    _c.flush()


def get_run_dir():
    return _c.run_dir()


# A run this process owns ends failed when an exception escapes the program, completed
# at a normal exit (the C++ side's own end at exit covers programs that never import this).
_hooked = False


def _install_failure_hook():
    global _hooked
    if _hooked:
        return
    _hooked = True
    previous = _sys.excepthook

    def hook(exc_type, exc, tb):
        try:
            if _c.active_run_id() is not None and not _os.environ.get("ANNEAL_RUN_ID"):
                _c.end_run("failed")
        finally:
            previous(exc_type, exc, tb)

    _sys.excepthook = hook


@_atexit.register
def _end_at_exit():
    if _c.active_run_id() is not None:
        _c.end_run("completed")
