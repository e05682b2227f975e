"""The build's layer check (cmake/check_layers.py) passes on the tree and fails, naming the
file and line, on an include that points up."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "cmake", "check_layers.py")


def run(root):
    return subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)


def test_the_tree_keeps_its_layers():
    r = run(ROOT)
    assert r.returncode == 0, r.stderr


def test_an_include_that_points_up_is_caught(tmp_path):
    for d, text in {"core": '#include "ops/ops.h"\n', "ops": '#include "core/tensor.h"\n',
                    "runtime": '#include "kernels/backend.h"\n', "optim": '#include "nn/module.h"\n'}.items():
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.h").write_text(text)
    r = run(str(tmp_path))
    assert r.returncode == 1
    assert "core/x.h:1: core/ includes ops/" in r.stderr
    assert "runtime/x.h:1: runtime/ includes kernels/" in r.stderr
    assert "ops/x.h" not in r.stderr and "optim/x.h" not in r.stderr
