"""anneal.utils.data as torch.utils.data: datasets (map-style, iterable, any object with
__len__/__getitem__), samplers, default_collate over nested tuples/lists/dicts/namedtuples
of tensors, numbers and arrays, and a DataLoader with PyTorch's arguments. Shuffling draws
from anneal's generator (anneal.manual_seed, or a generator seeded per loader), so runs
repeat. Workers (num_workers > 0) are threads that fetch batches ahead, in order: anneal's
ops release the GIL, and a thread cannot be lost the way a forked worker can."""
from .dataloader import DataLoader, default_collate, default_convert, get_worker_info  # noqa: F401
from .dataset import (  # noqa: F401
    ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset, random_split)
from .sampler import (  # noqa: F401
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler)
from . import distributed  # noqa: F401


def __getattr__(name):  # anneal.distributed imports anneal.nn; load it when first asked
    if name == "DistributedSampler":
        return distributed.DistributedSampler
    raise AttributeError(f"module 'anneal.utils.data' has no attribute '{name}'")
