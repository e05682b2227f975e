"""A no-grad scope for anneal's own Python code (the public anneal.no_grad lives in
anneal/__init__.py, which this must not import)."""
from anneal import _C


class NoGrad:
    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)
