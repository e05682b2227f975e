"""anneal.utils: torch.utils's data package (anneal.utils.data) and tensorboard's
SummaryWriter (anneal.utils.tensorboard)."""
from . import data, tensorboard  # noqa: F401
