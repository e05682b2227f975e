"""anneal.distributed.algorithms: communication hooks for DistributedDataParallel."""
