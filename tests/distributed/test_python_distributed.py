"""anneal.distributed and anneal.nn.parallel against PyTorch 1.13's torch.distributed on
Gloo: the same script (same_script.py) on 2 ranks with each, the same results."""
import os
import sys

import numpy as np
import pytest

from harness import Ranks

HERE = os.path.dirname(__file__)
PYTHON = "/usr/bin/python3"


def run_script(framework, out_dir, n=2):
    env = {"PYTHONPATH": os.environ.get("ANNEAL_PYTHONPATH", ""), "GLOO_SOCKET_IFNAME": "lo"}
    ranks = Ranks([PYTHON, os.path.join(HERE, "same_script.py"), framework, str(out_dir)], n, env=env)
    codes = ranks.wait(180)
    assert codes == [0] * n, ranks.report()
    return [dict(np.load(out_dir / f"{framework}_rank{r}.npz")) for r in range(n)]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    if not os.environ.get("ANNEAL_PYTHONPATH"):
        pytest.fail("ANNEAL_PYTHONPATH must name the built Python package (ctest sets it when it builds one)")
    try:
        import torch.distributed as td
        assert td.is_available() and td.is_gloo_available()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"PyTorch with Gloo is not available here: {e}")
    out = tmp_path_factory.mktemp("same")
    return run_script("anneal", out), run_script("torch", out)


@pytest.mark.parametrize("key", ["sum", "max", "min", "product", "broadcast", "all_gather", "sampler"])
def test_collectives_and_sampler_match_torch(results, key):
    ours, theirs = results
    for r in range(2):
        np.testing.assert_array_equal(ours[r][key], theirs[r][key])


def test_ddp_gradients_and_weights_match_torch(results):
    ours, theirs = results
    for r in range(2):
        keys = [k for k in theirs[r] if k.startswith(("grad", "param", "nosync", "unused"))]
        assert keys
        for k in keys:
            np.testing.assert_allclose(ours[r][k], theirs[r][k], rtol=1e-5, atol=1e-6, err_msg=f"rank {r} {k}")
    # and every rank ends with the same weights
    for k in ours[0]:
        if k.startswith("param"):
            np.testing.assert_array_equal(ours[0][k], ours[1][k])
