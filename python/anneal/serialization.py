"""anneal.save / anneal.load in PyTorch's checkpoint format (a zip holding data.pkl and one
record per tensor storage), so files move both ways between anneal and PyTorch.

Loading never runs code from the file: the unpickler resolves only the globals a
checkpoint of tensors, numbers, strings and containers needs (PyTorch's tensor rebuild
functions, storage types, OrderedDict, ...), and refuses anything else by name.
`weights_only=False` lifts that for files you trust, as in PyTorch."""
import collections
import io
import os
import pickle
import sys
import zipfile

import numpy as np

from anneal import _C
from anneal._C import Tensor
from anneal._device import device

_STORAGES = {  # PyTorch storage type -> (anneal dtype, numpy dtype of the bytes)
    "FloatStorage": (_C.float32, np.float32), "DoubleStorage": (_C.float64, np.float64),
    "HalfStorage": (_C.float16, np.float16), "BFloat16Storage": (_C.bfloat16, np.uint16),
    "LongStorage": (_C.int64, np.int64), "IntStorage": (_C.int32, np.int32), "ByteStorage": (_C.uint8, np.uint8),
    "BoolStorage": (_C.bool, np.bool_),
}
_BY_DTYPE = {v[0]: k for k, v in _STORAGES.items()}


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Global:
    """A class that pickles as the global `module.name` without importing it."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # (pickle checks that a reduce function is callable)
        raise TypeError(f"{self.module}.{self.name} is a name written into checkpoints, not a function")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    arr, dtype = storage
    itemsize = arr.dtype.itemsize
    size, stride = tuple(size), tuple(stride)
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f"a tensor with a negative size or stride: {size}, {stride}")
    needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else 0
    if needed > arr.shape[0] or storage_offset < 0:
        raise pickle.UnpicklingError(f"a tensor of size {size} and stride {stride} at offset {storage_offset} does not "
                                     f"fit its storage of {arr.shape[0]} elements")
    view = np.lib.stride_tricks.as_strided(arr[storage_offset:], shape=size,
                                           strides=tuple(s * itemsize for s in stride)) if all(size) else \
        np.zeros(size, dtype=arr.dtype)
    view = np.ascontiguousarray(view)
    if dtype == _C.bfloat16:
        t = _C.tensor((view.astype(np.uint32) << 16).view(np.float32)).to(_C.bfloat16)
    else:
        t = _C.from_numpy(view.copy()) if view.dtype != np.bool_ else _C.tensor(view)
    if t.dtype != dtype:
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks, *args):
    data.requires_grad_(requires_grad)
    data._is_parameter = True
    return data


_SAFE = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("builtins", "complex"): complex, ("builtins", "range"): range,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): tuple, ("torch", "device"): device,
    ("torch.nn.parameter", "Parameter"): lambda data, requires_grad=True: _rebuild_parameter(data, requires_grad, None),
    ("anneal", "device"): device, ("anneal._device", "device"): device,
    ("_codecs", "encode"): __import__("codecs").encode,
    ("numpy.core.multiarray", "scalar"): np.core.multiarray.scalar, ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct, ("numpy", "ndarray"): np.ndarray,
}
for _name in _STORAGES:
    _SAFE[("torch", _name)] = _StorageType(_name)
for _dt in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool"):
    _SAFE[("torch", _dt)] = getattr(_C, _dt)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, records, weights_only):
        super().__init__(file)
        self._records, self._weights_only, self._storages = records, weights_only, {}

    def find_class(self, module, name):
        if (module, name) in _SAFE:
            return _SAFE[(module, name)]
        if not self._weights_only:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"anneal.load refused the global '{module}.{name}': a checkpoint of tensors and plain values does not need "
            "it, and loading it could run code from the file. If you trust the file, pass weights_only=False.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, kind, key, _location, numel = pid[:5]
        if not isinstance(kind, _StorageType):
            raise pickle.UnpicklingError(f"unknown storage type {kind!r}")
        if key not in self._storages:
            dtype, np_dtype = _STORAGES[kind.name]
            raw = self._records(f"data/{key}")
            if len(raw) < numel * np.dtype(np_dtype).itemsize:
                raise pickle.UnpicklingError(f"storage {key} holds {len(raw)} bytes, fewer than its {numel} elements")
            self._storages[key] = (np.frombuffer(raw, dtype=np_dtype, count=numel), dtype)
        return self._storages[key]


class _Pickler(pickle._Pickler):
    """Writes tensors as PyTorch does: _rebuild_tensor_v2 over a persistent storage record."""

    def __init__(self, file, protocol):
        super().__init__(file, protocol)
        self.records = []

    def save_global(self, obj, name=None):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            memo = self.memo.get(id(obj))
            if memo is not None:
                self.write(self.get(memo[0]))
                return None
            return self.save_global(obj)
        if isinstance(obj, Tensor):
            return self._save_tensor(obj)
        if isinstance(obj, device):
            return self.save_reduce(_GLOBAL_DEVICE, (str(obj),), obj=obj)
        return super().save(obj, save_persistent_id)

    def _save_tensor(self, t):
        if t.dtype not in _BY_DTYPE:
            raise TypeError(f"anneal.save: tensors of {t.dtype} are not supported")
        x = t.detach().cpu().contiguous()
        if x.dtype == _C.bfloat16:
            raw = (x.to(_C.float32).numpy().view(np.uint32) >> 16).astype(np.uint16).tobytes()
        else:
            raw = x.numpy().tobytes()
        key = str(len(self.records))
        self.records.append((key, raw))
        kind = _STORAGE_GLOBALS[_BY_DTYPE[x.dtype]]
        storage = _PersistentStorage(("storage", kind, key, "cpu", x.numel()))
        stride = tuple(int(np.prod(x.shape[i + 1:])) for i in range(x.dim()))
        self.save_reduce(_GLOBAL_REBUILD, (storage, 0, tuple(x.shape), stride, t.requires_grad,
                                           collections.OrderedDict()), obj=t)

    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _PersistentStorage) else None


class _PersistentStorage:
    def __init__(self, pid):
        self.pid = pid


_GLOBAL_REBUILD = _Global("torch._utils", "_rebuild_tensor_v2")
_GLOBAL_DEVICE = _Global("torch", "device")
_STORAGE_GLOBALS = {name: _Global("torch", name) for name in _STORAGES}


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True):
    """Writes obj (tensors, state dicts, numbers, strings, containers) to a path or file in
    PyTorch's zip format: torch.load reads it."""
    buf = io.BytesIO()
    p = _Pickler(buf, pickle_protocol)
    p.dump(obj)
    name = "archive"
    if isinstance(f, (str, os.PathLike)):
        name = os.path.splitext(os.path.basename(os.fspath(f)))[0] or "archive"
        tmp = os.fspath(f) + ".tmp"
        with open(tmp, "wb") as out:
            _write_zip(out, name, buf.getvalue(), p.records)
        os.replace(tmp, os.fspath(f))  # a failed save leaves the old file whole
    else:
        _write_zip(f, name, buf.getvalue(), p.records)


def _write_zip(out, name, pkl, records):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", pkl)
        z.writestr(f"{name}/byteorder", sys.byteorder)
        for key, raw in records:
            z.writestr(f"{name}/data/{key}", raw)
        z.writestr(f"{name}/version", "3\n")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Reads what anneal.save or torch.save wrote (the zip format), from a path or a file.
    map_location moves every tensor to a device ("cpu", "cuda:0", a dict, a function)."""
    opened = isinstance(f, (str, os.PathLike))
    fh = open(f, "rb") if opened else f
    try:
        if not zipfile.is_zipfile(fh):
            raise RuntimeError(f"anneal.load: {f if opened else 'the file'} is not a checkpoint in the zip format "
                               "(anneal.save / torch.save since PyTorch 1.6)")
        fh.seek(0)
        with zipfile.ZipFile(fh) as z:
            names = z.namelist()
            pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pkl:
                raise RuntimeError("anneal.load: the archive has no data.pkl record")
            prefix = pkl[0][:-len("data.pkl")]
            order = z.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
            if order != sys.byteorder:
                raise RuntimeError(f"anneal.load: the checkpoint was written {order}-endian, this machine is "
                                   f"{sys.byteorder}-endian")

            def record(rel):
                try:
                    return z.read(prefix + rel)
                except KeyError:
                    raise pickle.UnpicklingError(f"the archive has no record {prefix + rel}") from None
            obj = _Unpickler(io.BytesIO(z.read(pkl[0])), record, weights_only).load()
    finally:
        if opened:
            fh.close()
    return _map(obj, map_location) if map_location is not None else obj


def _map(obj, loc):
    if isinstance(obj, Tensor):
        src = str(obj.device)
        dst = loc(obj, src) if callable(loc) else (loc.get(src, src) if isinstance(loc, dict) else str(loc))
        if isinstance(dst, Tensor):
            return dst
        return obj if str(dst) == src else obj.to(str(device(dst)))
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _map(v, loc)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _map(v, loc) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map(v, loc) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_map(v, loc) for v in obj)
    return obj
