"""torch.utils.data.distributed: DistributedSampler (anneal.distributed's)."""


def __getattr__(name):
    if name == "DistributedSampler":
        from anneal.distributed import DistributedSampler
        return DistributedSampler
    raise AttributeError(name)
