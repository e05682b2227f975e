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

CASES = ["mingpt", "wlm_lstm", "wlm_gru", "wlm_rnn_tanh", "wlm_transformer", "mnist", "resnet_basic",
         "resnet18_preact"]
FLOAT64 = ["mingpt", "wlm_lstm", "wlm_transformer", "resnet_basic"]


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
