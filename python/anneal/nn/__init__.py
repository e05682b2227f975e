"""anneal.nn: the functional interface (layers and Python-defined modules come later)."""
from anneal._C import functional  # noqa: F401
