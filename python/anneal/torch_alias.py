"""Runs PyTorch code on anneal: `import torch` (and every torch.X) resolves to anneal (and
anneal.X). Nothing is added for the alias's sake; what anneal lacks fails as it would on
a PyTorch without it.

    python3 -m anneal.torch_alias train.py --epochs 3     # a PyTorch script, on anneal

or, in a program, `import anneal.torch_alias; anneal.torch_alias.install()` before the
first `import torch`."""
import importlib
import importlib.abc
import importlib.machinery
import runpy
import sys
import types


class _Loader(importlib.abc.Loader):
    """Hands out an existing anneal module under the torch name, leaving the module's own
    identity (__spec__, __loader__) as it was."""

    def __init__(self, target):
        self.target = target
        self.saved = {k: getattr(target, k) for k in ("__spec__", "__loader__") if hasattr(target, k)}

    def create_module(self, spec):
        return self.target

    def exec_module(self, module):
        for k, v in self.saved.items():
            try:
                setattr(module, k, v)
            except (AttributeError, TypeError):
                pass


class _TorchAlias(importlib.abc.MetaPathFinder):
    """torch.X.Y -> anneal.X.Y: the module of that name, or else the attribute Y of
    anneal.X (anneal.backends.cudnn is a namespace, torch.backends.cudnn a module)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        name = "anneal" + fullname[len("torch"):]
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError:
            parent, _, leaf = name.rpartition(".")
            try:
                obj = getattr(importlib.import_module(parent), leaf)
            except (ModuleNotFoundError, AttributeError):
                return None
            if not isinstance(obj, types.ModuleType):
                obj = _as_module(fullname, obj)
        # (a package, so that torch.cuda.amp can be found under torch.cuda)
        return importlib.machinery.ModuleSpec(fullname, _Loader(obj), is_package=True)


def _as_module(name, obj):
    m = types.ModuleType(name)
    m.__dict__.update({k: getattr(obj, k) for k in dir(obj) if not k.startswith("__")})
    return m


def install():
    if not any(isinstance(f, _TorchAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchAlias())
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        del sys.modules[name]  # a torch imported before: later imports see anneal


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python3 -m anneal.torch_alias SCRIPT [ARGS...]\n"
              "runs a PyTorch script with `import torch` resolving to anneal")
        return 0 if argv else 2
    install()
    sys.argv = list(argv)
    runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
