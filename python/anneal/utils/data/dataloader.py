"""DataLoader and default_collate as torch.utils.data's."""
import collections
import concurrent.futures
import numbers
import threading

import numpy as np

from anneal import _C
from anneal._C import Tensor

from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

_worker_info = threading.local()


class WorkerInfo:
    def __init__(self, id, num_workers, seed, dataset):
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset


def get_worker_info():
    """The current worker's WorkerInfo inside a loader worker thread, else None."""
    return getattr(_worker_info, "info", None)


def default_convert(data):
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _C.tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return type(data)({k: default_convert(v) for k, v in data.items()}) if not isinstance(
            data, collections.OrderedDict) else collections.OrderedDict((k, default_convert(v)) for k, v in data.items())
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """A list of samples as one batch: tensors stacked, numbers and arrays made tensors,
    mappings and sequences collated field by field, strings kept as lists."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) != 1:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {sorted(shapes)} in the batch")
        return _C.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found "
                            f"{elem.dtype}")
        return _C.tensor(np.stack(batch))
    if isinstance(elem, np.generic):
        return _C.tensor(np.array(batch))
    if isinstance(elem, bool):
        return _C.tensor(batch)
    if isinstance(elem, numbers.Integral):
        return _C.tensor(batch, dtype=_C.int64)
    if isinstance(elem, numbers.Real):
        return _C.tensor(batch, dtype=_C.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {k: default_collate([d[k] for d in batch]) for k in elem}
        return collections.OrderedDict(out) if isinstance(elem, collections.OrderedDict) else out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if len({len(e) for e in batch}) != 1:
            raise RuntimeError("each element in list of batch should be of equal size")
        cols = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(cols) if isinstance(elem, tuple) else cols
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found "
                    f"{type(elem).__name__}")


def _pin(batch):
    if isinstance(batch, Tensor):
        return batch.pin_memory() if hasattr(batch, "pin_memory") else batch
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(_pin(b) for b in batch)
    if isinstance(batch, dict):
        return {k: _pin(v) for k, v in batch.items()}
    return batch


class DataLoader:
    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device=""):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        self.dataset, self.num_workers, self.pin_memory, self.timeout = dataset, num_workers, pin_memory, timeout
        self.worker_init_fn, self.generator = worker_init_fn, generator
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers > 0 else prefetch_factor
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler / batch_sampler")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
                                 "drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if not self._iterable:
            if not hasattr(dataset, "__getitem__"):
                raise TypeError(f"DataLoader: the dataset ({type(dataset).__name__}) has no __getitem__ and is not an "
                                "IterableDataset")
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last, self.sampler, self.batch_sampler = batch_size, drop_last, sampler, batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    def _fetch(self, indices):
        if self.batch_sampler is None:
            return self.collate_fn(self.dataset[indices])
        if self.collate_fn is default_collate and hasattr(self.dataset, "_get_batch"):
            try:
                return self.dataset._get_batch(indices)
            except AttributeError:
                pass
        return self.collate_fn([self.dataset[i] for i in indices])

    def _iter_iterable(self):
        batch = []
        for item in self.dataset:
            if self.batch_size is None:
                yield self.collate_fn(item)
                continue
            batch.append(item)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __iter__(self):
        if self._iterable:
            source = self._iter_iterable()
            return (_pin(b) for b in source) if self.pin_memory else source
        indices = iter(self.batch_sampler if self.batch_sampler is not None else self.sampler)
        if self.num_workers == 0:
            return (_pin(self._fetch(i)) if self.pin_memory else self._fetch(i) for i in indices)
        return self._threaded(indices)

    def _threaded(self, indices):
        """num_workers threads fetch up to num_workers * prefetch_factor batches ahead; the
        batches come out in order."""
        ahead = self.num_workers * self.prefetch_factor
        seed = int(_C.randint(0, 2 ** 62, (1,)).item())

        def init(counter=iter(range(self.num_workers)), lock=threading.Lock()):
            with lock:
                wid = next(counter)
            _worker_info.info = WorkerInfo(wid, self.num_workers, seed + wid, self.dataset)
            if self.worker_init_fn is not None:
                self.worker_init_fn(wid)

        pool = concurrent.futures.ThreadPoolExecutor(self.num_workers, thread_name_prefix="anneal-loader",
                                                     initializer=init)
        pending = collections.deque()
        try:
            for idx in indices:
                pending.append(pool.submit(self._fetch, idx))
                if len(pending) >= ahead:
                    yield self._result(pending.popleft())
            while pending:
                yield self._result(pending.popleft())
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def _result(self, future):
        try:
            batch = future.result(timeout=self.timeout or None)
        except concurrent.futures.TimeoutError:
            raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None
        return _pin(batch) if self.pin_memory else batch
