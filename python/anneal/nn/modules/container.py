"""Containers as torch.nn's: Sequential (modules or an OrderedDict; indexing, slicing,
append/insert/extend, deletion), ModuleList, ModuleDict, ParameterList, ParameterDict."""
import collections
import operator

from anneal import _C
from anneal._C import Tensor

from .module import Module, Parameter


def _index(i, n):
    i = operator.index(i)
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range")
    return i % n


class Sequential(Module):
    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], collections.OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _items(self):
        return list(self.named_children())

    def __getitem__(self, idx):
        items = self._items()
        if isinstance(idx, slice):
            return type(self)(collections.OrderedDict(items[idx]))
        return items[_index(idx, len(items))][1]

    def __setitem__(self, idx, module):
        name = self._items()[_index(idx, len(self))][0]
        setattr(self, name, module)

    def __delitem__(self, idx):
        items = self._items()
        names = [n for n, _ in (items[idx] if isinstance(idx, slice) else [items[_index(idx, len(items))]])]
        for n in names:
            delattr(self, n)
        kept = [m for n, m in items if n not in names]
        for n, _ in items:
            if n not in names:
                delattr(self, n)
        for i, m in enumerate(kept):
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._child_names())

    def __iter__(self):
        return iter(m for _, m in self._items())

    def __add__(self, other):
        return Sequential(*list(self), *list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self)
        mods.insert(index if index >= 0 else len(mods) + index, module)
        for n in self._child_names():
            delattr(self, n)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self

    def pop(self, index=-1):
        m = self[index]
        del self[index]
        return m

    def forward(self, input):
        for m in self._children_tuple():
            input = m(input)
        return input


class ModuleList(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        items = list(self.named_children())
        if isinstance(idx, slice):
            return type(self)([m for _, m in items[idx]])
        return items[_index(idx, len(items))][1]

    def __setitem__(self, idx, module):
        setattr(self, str(_index(idx, len(self))), module)

    def __delitem__(self, idx):
        mods = list(self)
        del mods[idx]
        for n in self._child_names():
            delattr(self, n)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._child_names())

    def __iter__(self):
        return iter(m for _, m in self.named_children())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        if not hasattr(modules, "__iter__"):
            raise TypeError("ModuleList.extend should be called with an iterable, but got " + type(modules).__name__)
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self)
        mods.insert(index, module)
        for n in self._child_names():
            delattr(self, n)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def pop(self, index=-1):
        m = self[index]
        del self[index]
        return m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward: iterate over it")


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        for n, m in self.named_children():
            if n == key:
                return m
        raise KeyError(key)

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        if key not in self:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self):
        return len(self._child_names())

    def __iter__(self):
        return iter(self._child_names())

    def __contains__(self, key):
        return key in self._child_names()

    def keys(self):
        return self._child_names()

    def items(self):
        return list(self.named_children())

    def values(self):
        return [m for _, m in self.named_children()]

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m

    def pop(self, key):
        m = self[key]
        del self[key]
        return m

    def clear(self):
        for k in list(self.keys()):
            del self[k]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward: index it")


class ParameterList(Module):
    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(self._size)[idx]])
        return getattr(self, str(_index(idx, self._size)))

    def __setitem__(self, idx, param):
        setattr(self, str(_index(idx, self._size)), _as_param(param))

    def __len__(self):
        return self._size

    def __iter__(self):
        return iter(self[i] for i in range(self._size))

    def append(self, value):
        setattr(self, str(self._size), _as_param(value))
        self._size += 1
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def extra_repr(self):
        return "\n".join(f"({i}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"
                         for i, p in enumerate(self))


class ParameterDict(Module):
    def __init__(self, parameters=None):
        super().__init__()
        self._keys = []
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key, value):
        if key not in self._keys:
            self._keys.append(key)
        setattr(self, key, _as_param(value))

    def __delitem__(self, key):
        self._keys.remove(key)
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def keys(self):
        return list(self._keys)

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def values(self):
        return [self[k] for k in self._keys]

    def update(self, parameters):
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for k, v in items:
            self[k] = v


def _as_param(value):
    if isinstance(value, Tensor) and not getattr(value, "_is_parameter", False):
        return Parameter(value, requires_grad=value.requires_grad or value.is_floating_point())
    return value


del _C
