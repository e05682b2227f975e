from anneal.distributed.algorithms.ddp_comm_hooks import default_hooks  # noqa: F401
