"""The compression hooks of torch.distributed.algorithms.ddp_comm_hooks.default_hooks:
gradients travel as float16 / bfloat16 (half the bytes) and are cast back. They run in C++
(register them with DistributedDataParallel.register_comm_hook(None, hook))."""


def fp16_compress_hook(state, bucket):
    raise RuntimeError("fp16_compress_hook runs inside DistributedDataParallel: register it with register_comm_hook")


def bf16_compress_hook(state, bucket):
    raise RuntimeError("bf16_compress_hook runs inside DistributedDataParallel: register it with register_comm_hook")


fp16_compress_hook._anneal_builtin = "fp16"
bf16_compress_hook._anneal_builtin = "bf16"
