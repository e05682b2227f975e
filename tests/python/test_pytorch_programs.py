"""Public PyTorch programs (tests/python/compat/programs, each with its origin and license)
run unmodified on anneal through anneal.torch_alias, and agree with Debian's PyTorch 1.13
run on the same initial weights and data: the first loss, every gradient of the first
step, the losses of three optimizer steps and the final parameters."""
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "compat", "runner.py")

CASES = ["mingpt", "nanogpt", "nanogpt_gpt2_style", "wlm_lstm", "wlm_gru", "wlm_rnn_tanh", "wlm_transformer", "mnist",
         "resnet_basic", "resnet18_preact"]
FLOAT64 = ["mingpt", "nanogpt", "wlm_lstm", "wlm_transformer", "resnet_basic", "time_sequence"]


def run(case, lib, dtype, work):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    r = subprocess.run([sys.executable, RUNNER, case, lib, dtype, str(work)], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, f"{case} on {lib} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return np.load(os.path.join(work, f"{lib}.npz"))


@pytest.mark.parametrize("case,dtype", [(c, "float32") for c in CASES] + [(c, "float64") for c in FLOAT64])
def test_program_agrees_with_pytorch(case, dtype, tmp_path):
    ref = run(case, "torch", dtype, tmp_path)
    got = run(case, "anneal", dtype, tmp_path)
    rtol, atol = (1e-4, 1e-5) if dtype == "float32" else (1e-9, 1e-11)
    assert sorted(ref.files) == sorted(got.files), "the programs' parameters differ in name"
    np.testing.assert_allclose(got["losses"], ref["losses"], rtol=rtol, atol=atol, err_msg=f"{case}: losses")
    for k in ref.files:
        np.testing.assert_allclose(got[k], ref[k], rtol=rtol * 10, atol=atol * 10, err_msg=f"{case}: {k}")


def test_the_programs_own_loops_run_and_evaluate_alike(tmp_path):
    for lib in ("torch", "anneal"):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        r = subprocess.run([sys.executable, RUNNER, "loops", lib, "float32", str(tmp_path)], capture_output=True,
                           text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-6000:]
    ref = (tmp_path / "torch.txt").read_text()
    got = (tmp_path / "anneal.txt").read_text()
    assert "Test set: Average loss" in ref and "train log lines: 2" in ref and "generated: (2, 13) in range: True" in ref
    assert got == ref


def test_torch_alias_runs_a_script(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import torch, torch.nn as nn, torch.nn.functional as F\n"
                      "import sys\n"
                      "m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))\n"
                      "opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
                      "x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))\n"
                      "for _ in range(3):\n"
                      "    opt.zero_grad(); loss = F.cross_entropy(m(x), y); loss.backward(); opt.step()\n"
                      "print(torch.__name__, sys.argv[1:], type(loss).__module__)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-m", "anneal.torch_alias", str(script), "--flag", "1"], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["anneal", "['--flag',", "'1']", "anneal._C"]
