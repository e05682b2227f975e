"""anneal.utils: torch.utils's data package (anneal.utils.data)."""
from . import data  # noqa: F401
