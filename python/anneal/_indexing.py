"""Tensor indexing as PyTorch's: ints, slices, None and ... through the core's view
indexing; lists, tensors and boolean masks on any dims (advanced indexing, numpy's rules for
where the indexed dims land) as one index_select over the merged dims, and assignment to
such positions. Installed as Tensor.__getitem__/__setitem__ by anneal/_surface.py."""
import builtins
import numbers

import numpy as np

from anneal import _C
from anneal._C import Tensor
from anneal._grad import NoGrad as _no_grad

_c_getitem = Tensor.__getitem__
_c_setitem = Tensor.__setitem__


def _index_tensor(arr, like):
    t = _C.from_numpy(np.ascontiguousarray(arr, dtype=np.int64))
    return t if like.device == "cpu" else t.to(str(like.device))


def _full(shape, value, dtype):
    return _C.full(tuple(shape), value, dtype=dtype)


def _is_advanced(k):
    return isinstance(k, (list, Tensor, np.ndarray)) and not (isinstance(k, Tensor) and k.dim() == 0 and
                                                              k.dtype != _C.bool)


def _as_index(k, like):
    if isinstance(k, Tensor):
        return k
    arr = np.asarray(k)
    if arr.dtype == np.bool_:
        return _C.from_numpy(np.ascontiguousarray(arr))
    return _index_tensor(arr, like)


def _consumed(k, like):
    """How many dims of the indexed tensor an index item uses."""
    if k is None or k is Ellipsis:
        return 0
    if _is_advanced(k):
        idx = _as_index(k, like)
        return idx.dim() if idx.dtype == _C.bool else 1
    return 1


def broadcast_shapes(*shapes):
    return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))


def broadcast_tensors(*tensors):
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return [t.expand(*shape) for t in tensors]


def _getitem(self, key):
    if isinstance(key, Tensor) and key.dim() == 0 and key.dtype != _C.bool:
        key = int(key.item())
    items = key if isinstance(key, tuple) else (key,)
    if not any(_is_advanced(k) for k in items):
        if isinstance(key, tuple) and any(isinstance(k, Tensor) for k in key):
            key = tuple(int(k.item()) if isinstance(k, Tensor) else k for k in key)
        return _c_getitem(self, key)
    if len(items) == 1 and isinstance(items[0], Tensor) and items[0].dtype == _C.bool and items[0].dim() <= 1:
        return _c_getitem(self, items[0])  # the core's mask path
    # basic indexing first, with each advanced index replaced by full slices; then the
    # advanced indices, on the dims they landed on
    used = builtins.sum(_consumed(k, self) for k in items)
    if used > self.dim():
        raise IndexError(f"too many indices for tensor of dimension {self.dim()}")
    basic, adv = [], []
    out_dim = 0
    for k in items:
        if k is None:
            basic.append(None)
            out_dim += 1
        elif k is Ellipsis:
            basic.append(Ellipsis)
            out_dim += self.dim() - used
        elif _is_advanced(k):
            idx = _as_index(k, self)
            if idx.dtype == _C.bool:  # a mask over idx.dim() dims: its nonzero positions
                nz = _C.nonzero(idx)
                for j in range(idx.dim()):
                    basic.append(slice(None))
                    adv.append((out_dim, nz[:, j]))
                    out_dim += 1
                continue
            basic.append(slice(None))
            adv.append((out_dim, idx))
            out_dim += 1
        elif isinstance(k, (numbers.Integral, Tensor)):
            basic.append(int(k))
        else:
            basic.append(k)
            out_dim += 1
    r = _c_getitem(self, tuple(basic))
    dims = [d for d, _ in adv]
    idxs = broadcast_tensors(*[i for _, i in adv])
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    # the indexed dims to the front, merged into one, one index_select on it
    order = dims + [d for d in range(r.dim()) if d not in dims]
    moved = r.permute(*order)
    lead = moved.shape[:len(dims)]
    rest = tuple(moved.shape[len(dims):])
    flat = moved.reshape(-1, *rest)
    linear = None
    for n, i in zip(lead, idxs):
        if i.numel() and (int(i.max()) >= n or int(i.min()) < -n):
            raise IndexError(f"index {int(i.max()) if int(i.max()) >= n else int(i.min())} is out of bounds for "
                             f"dimension with size {n}")
        i = _C.where(i < 0, i + n, i)
        linear = i if linear is None else linear * n + i
    picked = _C.index_select(flat, 0, linear.reshape(-1)).reshape(*linear.shape, *rest)
    if adjacent and dims[0] > 0:  # numpy: adjacent advanced indices stay where they were
        nb = linear.dim()
        perm = list(range(nb, nb + dims[0])) + list(range(nb)) + list(range(nb + dims[0], picked.dim()))
        picked = picked.permute(*perm)
    return picked


def _setitem(self, key, value):
    items = key if isinstance(key, tuple) else (key,)
    if not any(_is_advanced(k) for k in items) or (len(items) == 1 and isinstance(items[0], Tensor) and
                                                    items[0].dtype == _C.bool):
        if len(items) == 1 and isinstance(items[0], Tensor) and items[0].dtype == _C.bool:
            mask = items[0]
            with _no_grad():
                v = value if isinstance(value, Tensor) else None
                if v is None or v.numel() == 1:
                    filled = _C.masked_fill(self, _expand_mask(mask, self), value if v is None else v.item())
                    self.copy_(filled)
                    return
                sel = self.reshape(-1)
                pos = _C.nonzero(_expand_mask(mask, self).reshape(-1)).reshape(-1)
                self.copy_(_index_copy(sel, pos, v.reshape(-1)).reshape(*self.shape))
                return
        _c_setitem(self, tuple(int(k.item()) if isinstance(k, Tensor) and k.dim() == 0 else k for k in items)
                   if isinstance(key, tuple) else key, value)
        return
    # advanced assignment: scatter into the flattened tensor at the positions the same key selects
    with _no_grad():
        positions = _getitem(_C.arange(self.numel()).reshape(*self.shape), key)
        flat = self.reshape(-1)
        v = value if isinstance(value, Tensor) else _full(positions.shape, value, self.dtype)
        v = v.to(self.dtype).expand(*positions.shape).reshape(-1)
        self.copy_(_index_copy(flat, positions.reshape(-1), v).reshape(*self.shape))


def _expand_mask(mask, like):
    m = mask
    while m.dim() < like.dim():
        m = m.unsqueeze(-1)
    return m.expand(*like.shape)


def _index_copy(flat, pos, values):
    keep = _C.ones(flat.shape[0], dtype=flat.dtype)
    keep = _C.scatter(keep, 0, pos, _C.zeros(pos.shape[0], dtype=flat.dtype))
    return flat * keep + _C.scatter(_C.zeros(flat.shape[0], dtype=flat.dtype), 0, pos, values)


