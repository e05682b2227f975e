"""anneal.nn.parallel: DistributedDataParallel (torch.nn.parallel's name and arguments)."""
from anneal.nn.parallel.distributed import DistributedDataParallel  # noqa: F401
