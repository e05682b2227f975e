"""Fixtures of the job and tracking tests (tests/tools, tests/ui): the `anneal` command with
its runs in a folder of the test's own, and a PostgreSQL server."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import postgres  # noqa: E402


def _need(var, what):
    path = os.environ.get(var)
    if not path or not os.path.exists(path):
        pytest.fail(f"{var} must name {what} (ctest sets it)")
    return path


@pytest.fixture(scope="session")
def cli():
    return _need("ANNEAL_CLI", "the built `anneal` command")


@pytest.fixture(scope="session")
def pg_server():
    try:
        with postgres.PostgresServer() as pg:
            yield pg
    except postgres.Unavailable as e:
        pytest.skip(f"no PostgreSQL server: {e}")


class Anneal:
    """Runs `anneal ...` with its runs in one folder of the test's own."""

    def __init__(self, exe, root, uri=None):
        self.exe, self.root, self.uri = exe, str(root), uri
        self.env = dict(os.environ)
        self.env["ANNEAL_RUNS_DIR"] = self.root
        py = os.environ.get("ANNEAL_PYTHONPATH")
        if py:
            self.env["PYTHONPATH"] = py + os.pathsep + self.env.get("PYTHONPATH", "")
        if uri:
            self.env["ANNEAL_TRACKING_URI"] = uri
        self.env.pop("ANNEAL_RUN_ID", None)

    def __call__(self, *args, check=True, timeout=300, input=None):
        r = subprocess.run([self.exe, *map(str, args)], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"anneal {' '.join(map(str, args))} exited {r.returncode}\n"
                                 f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def run_id(self, result):
        for line in result.stdout.splitlines():
            if line.startswith("anneal: run ") and "records in" in line:
                return line.split()[2]
        raise AssertionError(f"no run id in:\n{result.stdout}\n{result.stderr}")

    def runs(self, *args):
        import json
        return json.loads(self("runs", "list", "--json", *args).stdout)

    def show(self, run_id):
        import json
        return json.loads(self("runs", "show", run_id, "--json").stdout)


@pytest.fixture
def anneal(cli, tmp_path):
    return Anneal(cli, tmp_path / "runs")
