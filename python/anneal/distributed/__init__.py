"""anneal.distributed: torch.distributed's API over anneal's process groups (Gloo for CPU
tensors, NCCL for CUDA tensors).

    import anneal.distributed as dist
    dist.init_process_group("gloo")          # RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    dist.all_reduce(t, op=dist.ReduceOp.SUM)

Start the ranks with `anneal launch --nproc-per-node N -- python train.py`, mpirun or srun."""
import datetime as _datetime

from anneal._C import distributed as _C_dist
from anneal._C.distributed import (  # noqa: F401
    DistError, DistNetworkError, DistStoreError, DistTimeoutError, ProcessGroup, ReduceOp, Work,
    is_gloo_available, is_nccl_available)
from anneal._C.data import DistributedSampler as _DistributedSampler


class GroupMember:
    WORLD = None  # the default group, as torch.distributed.GroupMember.WORLD
    NON_GROUP_MEMBER = object()


group = GroupMember


def TCPStore(host_name, port, world_size=None, is_master=False, timeout=_datetime.timedelta(seconds=300),
             wait_for_workers=True):
    """torch.distributed.TCPStore: the master hosts it at port (0: any free one, see .port);
    set/get/add/compare_set/check/wait/delete_key/num_keys, values as bytes."""
    return _C_dist.TCPStore(host_name, port, world_size, is_master, _seconds(timeout))


def is_available():
    return True


def is_initialized():
    return _C_dist.is_initialized()


def _seconds(timeout):
    if timeout is None:
        return 0.0
    if isinstance(timeout, _datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, init_timeout=None):
    """Joins the default group. backend: "gloo" (CPU tensors), "nccl" (CUDA tensors) or None
    (nccl when CUDA is available); init_method: env:// (default), tcp://host:port or
    file:///path; timeout: a datetime.timedelta or seconds for every collective."""
    if store is not None and not isinstance(store, _C_dist.TCPStore):
        raise TypeError(f"init_process_group(store=...) takes an anneal.distributed.TCPStore, got {type(store).__name__}")
    if isinstance(backend, str):
        backend = backend.lower()
        if ":" in backend or "," in backend:  # "cpu:gloo,cuda:nccl": the device decides anyway
            backend = "nccl" if "cuda:nccl" in backend and is_nccl_available() else "gloo"
    _C_dist.init_process_group(backend or "", init_method or "env://", rank, world_size, _seconds(timeout),
                               _seconds(init_timeout), store)
    GroupMember.WORLD = _C_dist.default_group()


def destroy_process_group(group=None):
    if group is not None and group is not GroupMember.WORLD:
        return  # sub-groups go with their last reference
    GroupMember.WORLD = None
    _C_dist.destroy_process_group()


def _group(g):
    if g is None or g is GroupMember.WORLD:
        return _C_dist.default_group()
    if g is GroupMember.NON_GROUP_MEMBER:
        raise ValueError("this rank is not a member of the group")
    return g


def get_rank(group=None):
    return _group(group).rank()


def get_world_size(group=None):
    return _group(group).size()


def get_backend(group=None):
    return _group(group).backend()


def get_local_rank():
    return _C_dist.local_rank()


def new_group(ranks=None, timeout=None, backend=None, pg_options=None):
    """A group of some ranks; every rank must call it (in the same order). Non-members get
    GroupMember.NON_GROUP_MEMBER, as in PyTorch."""
    g = _C_dist.new_group(list(ranks or []), _seconds(timeout))
    return GroupMember.NON_GROUP_MEMBER if g is None else g


def _done(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    return _done(_group(group).all_reduce(tensor, op), async_op)


def broadcast(tensor, src=0, group=None, async_op=False):
    return _done(_group(group).broadcast(tensor, src), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    return _done(_group(group).all_gather(list(tensor_list), tensor), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    return _done(_group(group).all_gather_into_tensor(output_tensor, input_tensor), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    return _done(_group(group).reduce_scatter(output, list(input_list), op), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    return _done(_group(group).reduce_scatter_tensor(output, input, op), async_op)


def barrier(group=None, async_op=False, device_ids=None):
    return _done(_group(group).barrier(), async_op)


def isend(tensor, dst, group=None, tag=0):
    return _group(group).send(tensor, dst, tag)


def irecv(tensor, src, group=None, tag=0):
    return _group(group).recv(tensor, src, tag)


def send(tensor, dst, group=None, tag=0):
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src, group=None, tag=0):
    irecv(tensor, src, group, tag).wait()
    return src


class DistributedSampler(_DistributedSampler):
    """torch.utils.data.distributed.DistributedSampler's signature: rank r of N takes
    positions r, r + N, ... of the (seeded, per-epoch) shuffled order, padded to a multiple
    of N (or cut, with drop_last). Pass it as the DataLoader's sampler."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = get_world_size()
        if rank is None:
            rank = get_rank()
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        size = dataset if isinstance(dataset, int) else len(dataset)
        _DistributedSampler.__init__(self, size, num_replicas, rank, shuffle, seed, drop_last)
        self.num_replicas, self.rank, self.shuffle, self.seed, self.drop_last = num_replicas, rank, shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch  # the DataLoader passes its epoch to indices(); kept for PyTorch scripts

    def __iter__(self):
        return iter(self.indices(self.epoch))
