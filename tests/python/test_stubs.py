"""The committed type stubs (python/anneal/_C/*.pyi) are what scripts/make_stubs.py writes
from the extension now: a binding changed without regenerating them fails here."""
import importlib.util
import pathlib
import sys

import anneal

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("make_stubs", ROOT / "scripts" / "make_stubs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stubs_are_current():
    files = load_generator().generate()
    assert set(files) >= {"_C/__init__.pyi", "_C/nn.pyi", "_C/functional.pyi", "_C/optim.pyi", "_C/data.pyi"}
    for path, text in files.items():
        committed = ROOT / "python" / "anneal" / path
        assert committed.exists(), f"{committed} missing: run scripts/make_stubs.py python/anneal"
        assert committed.read_text() == text, f"{committed} is stale: run scripts/make_stubs.py python/anneal"
    assert (ROOT / "python" / "anneal" / "py.typed").exists()


def test_stubs_name_every_public_function_with_its_parameters():
    text = (ROOT / "python" / "anneal" / "_C" / "__init__.pyi").read_text()
    for name in ("matmul", "zeros", "from_numpy", "linspace", "where"):
        assert f"\ndef {name}(" in text
    assert "def sum(self, dim=..., keepdim=..., dtype=..., axis=...) -> Any" in text  # (Python-defined method)
    fn = (ROOT / "python" / "anneal" / "_C" / "functional.pyi").read_text()
    assert "def cross_entropy(input: anneal._C.Tensor, target: anneal._C.Tensor, weight: Optional[anneal._C.Tensor] = None" in fn
    assert sys.modules["anneal"] is anneal
