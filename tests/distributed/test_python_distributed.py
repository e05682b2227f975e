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


STORE_SCRIPT = r"""
import os, sys
import anneal, anneal.distributed as dist
rank, port = int(sys.argv[1]), int(sys.argv[2])
store = dist.TCPStore("127.0.0.1", port, 2, rank == 0)
store.set(f"hello{rank}", f"from {rank}")
other = store.get(f"hello{1 - rank}")
assert other == f"from {1 - rank}".encode(), other
assert store.add("count", 1) in (1, 2)
dist.init_process_group("gloo", store=store, rank=rank, world_size=2)
t = anneal.ones(3) * (rank + 1)
dist.all_reduce(t)
assert t.tolist() == [3.0, 3.0, 3.0], t.tolist()
dist.destroy_process_group()
print("store ok", rank)
"""


def test_init_process_group_with_a_tcp_store(tmp_path):
    if not os.environ.get("ANNEAL_PYTHONPATH"):
        pytest.fail("ANNEAL_PYTHONPATH must name the built Python package")
    from harness import free_port
    script = tmp_path / "store.py"
    script.write_text(STORE_SCRIPT)
    port = free_port()
    env = {"PYTHONPATH": os.environ["ANNEAL_PYTHONPATH"]}
    import subprocess
    procs = [subprocess.Popen([PYTHON, str(script), str(r), str(port)], env=dict(os.environ, **env),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "store ok 0" in outs[0] and "store ok 1" in outs[1]
