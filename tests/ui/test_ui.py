"""`anneal ui` in a real browser (Debian's Chromium driven by npm's playwright-core) over
runs this test creates, and its token rule checked with plain HTTP requests."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from anneal_fixtures import Anneal  # noqa: E402
from test_runs import command_job  # noqa: E402
from test_sweeps import sweep_file  # noqa: E402
from test_pipelines import make as make_pipeline  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYWRIGHT_VERSION = "1.65.1"


class Ui:
    def __init__(self, anneal, tmp_path, *args):
        port_file = tmp_path / f"port-{time.time_ns()}"
        self.proc = subprocess.Popen([anneal.exe, "ui", "--port", "0", "--port-file", str(port_file), *args],
                                     env=anneal.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"anneal ui did not start: {self.proc.stderr.read()}")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.banner = self.proc.stdout.readline().strip()

    def get(self, path, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=b"", method="POST",
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def playwright_dir(tmp_path_factory):
    if not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        pytest.skip("no Chromium (apt install chromium; .ci/run does)")
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("no node/npm to run playwright-core")
    d = os.environ.get("ANNEAL_PLAYWRIGHT_DIR") or str(tmp_path_factory.mktemp("playwright"))
    if not os.path.exists(os.path.join(d, "node_modules", "playwright-core")):
        r = subprocess.run(["npm", "install", "--prefix", d, "--no-audit", "--no-fund", "--loglevel=error",
                            f"playwright-core@{PLAYWRIGHT_VERSION}"], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.skip(f"npm could not install playwright-core: {r.stderr[-400:]}")
    return d


def test_the_page_lists_runs_draws_their_curves_and_compares_them(anneal, tmp_path, playwright_dir):
    a = anneal.run_id(anneal("run", command_job(tmp_path, lr=0.1), "--name", "lr-0.1"))
    b = anneal.run_id(anneal("run", command_job(tmp_path, lr=0.3), "--name", "lr-0.3"))
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    sweep = anneal("sweep", sweep_file(sweep_dir, "{type: bandit, slack_factor: 0.2, delay_evaluation: 2}", pause=0.05))
    sweep_id = sweep.stdout.split("anneal: sweep ")[1].split()[0]
    pipe = anneal("pipeline", "run", make_pipeline(tmp_path / "pipeline"))
    pipeline_id = pipe.stdout.split("anneal: pipeline ")[1].split()[0]
    ui = Ui(anneal, tmp_path)
    try:
        out = os.environ.get("ANNEAL_UI_SCREENSHOTS") or str(tmp_path / "screenshots")
        os.makedirs(out, exist_ok=True)
        script = os.path.join(playwright_dir, "browser_check.mjs")  # beside its node_modules
        shutil.copy(os.path.join(HERE, "browser_check.mjs"), script)
        r = subprocess.run(["node", script, f"http://127.0.0.1:{ui.port}/", a, b, out, sweep_id, pipeline_id],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        for shot in ("runs.png", "run.png", "compare.png", "sweep.png", "pipeline.png"):
            assert os.path.getsize(os.path.join(out, shot)) > 5000, shot
    finally:
        ui.stop()


def test_the_api_answers_with_json_and_refuses_what_it_must(anneal, tmp_path):
    rid = anneal.run_id(anneal("run", command_job(tmp_path)))
    ui = Ui(anneal, tmp_path)
    try:
        assert ui.banner == f"anneal ui: http://127.0.0.1:{ui.port}/"
        status, body = ui.get("/api/runs?sort=-metric.accuracy")
        assert status == 200 and [r["id"] for r in json.loads(body)] == [rid]
        status, body = ui.get(f"/api/runs/{rid}/metrics?keys=loss")
        m = json.loads(body)
        assert list(m) == ["loss"] and m["loss"]["step"] == list(range(20))
        status, body = ui.get(f"/api/runs/{rid}")
        assert status == 200 and "resolved" in json.loads(body)
        assert ui.get("/api/runs/does-not-exist")[0] == 404
        assert ui.get("/api/runs/..%2F..%2Fetc%2Fpasswd")[0] == 404  # not a path: an id that does not exist
        assert ui.get("/../../etc/passwd")[0] == 404
        assert ui.get("/api/runs?where=nonsense")[0] == 400
        assert ui.get("/api/compare?ids=" + rid)[0] == 400
        # a name that resolves to 127.0.0.1 but is not ours (DNS rebinding) is refused
        assert ui.get("/api/runs", {"Host": "attacker.example"})[0] == 421
        # cancel needs the token, even on loopback; the page carries it
        assert ui.post(f"/api/runs/{rid}/cancel")[0] == 403
        page = ui.get("/")[1].decode()
        token = page.split('name="anneal-cancel-token" content="')[1].split('"')[0]
        status, body = ui.post(f"/api/runs/{rid}/cancel", {"X-Anneal-Token": token})
        assert status == 200 and json.loads(body) == {"status": "completed", "canceled": False}
    finally:
        ui.stop()


def test_a_token_is_required_when_one_is_set(anneal, tmp_path):
    anneal.run_id(anneal("run", command_job(tmp_path)))
    ui = Ui(anneal, tmp_path, "--host", "127.0.0.1", "--token", "s3cret-token")
    try:
        assert ui.get("/api/runs")[0] == 401
        assert ui.get("/")[0] == 401
        assert ui.get("/api/runs", {"Authorization": "Bearer wrong"})[0] == 401
        assert ui.get("/api/runs", {"Authorization": "Bearer s3cret-token"})[0] == 200
        assert ui.get("/api/runs?token=s3cret-token")[0] == 200
        assert ui.get("/app.js", {"Cookie": "anneal_token=s3cret-token"})[0] == 200
    finally:
        ui.stop()
    # another host without --token: one is made, printed, and required
    ui = Ui(anneal, tmp_path, "--host", "0.0.0.0")
    try:
        assert "need the token" in ui.banner
        token = ui.banner.split()[-1]
        assert ui.get("/api/runs")[0] == 401
        assert ui.get("/api/runs", {"Authorization": f"Bearer {token}"})[0] == 200
    finally:
        ui.stop()
