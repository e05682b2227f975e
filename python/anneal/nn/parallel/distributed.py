"""DistributedDataParallel for Python modules: the C++ reducer does the work (buckets
all-reduced from gradient hooks while backward runs, averaged by the world size); this
class checks and broadcasts the model at construction, broadcasts buffers before each
forward and tells the reducer which outputs the backward will start from."""
import contextlib

from anneal import _C
from anneal.nn import Module

_BUILTIN_HOOKS = {}


def _tensors_in(value, out):
    if isinstance(value, _C.Tensor):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tensors_in(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors_in(v, out)
    return out


class DistributedDataParallel(Module):
    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not isinstance(module, _C.nn.Module):
            raise TypeError(f"DistributedDataParallel wraps an anneal.nn.Module, got {type(module).__name__}")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("DistributedDataParallel: one device per process (device_ids with one entry or None)")
        import anneal.distributed as dist
        self.process_group = dist._group(process_group)
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        self.reducer = _C.distributed._make_reducer(
            list(module.named_parameters()), list(module.buffers()), self.process_group, float(bucket_cap_mb),
            find_unused_parameters, gradient_as_bucket_view)

    def forward(self, *inputs, **kwargs):
        training = self.module.training if hasattr(self.module, "training") else True
        if self.broadcast_buffers and training and self.process_group.size() > 1:
            buffers = list(self.module.buffers())
            if buffers:
                _C.distributed.broadcast_coalesced(self.process_group, buffers, 0)
        output = self.module(*inputs, **kwargs)
        if _C.is_grad_enabled() and self.require_backward_grad_sync and training:
            self.reducer.prepare_for_backward(_tensors_in(output, []))
        else:
            self.reducer.prepare_for_local_backward()
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside the block accumulates local gradients only; the next backward
        outside it synchronises all of them."""
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    def register_comm_hook(self, state, hook):
        """The built-in compression hooks of anneal.distributed.algorithms (fp16, bf16)."""
        name = getattr(hook, "_anneal_builtin", None)
        if name is None:
            raise NotImplementedError("register_comm_hook: only the built-in hooks fp16_compress_hook and "
                                      "bf16_compress_hook (anneal.distributed.algorithms.ddp_comm_hooks."
                                      "default_hooks) are supported")
        self.reducer._register_builtin_comm_hook(name)
