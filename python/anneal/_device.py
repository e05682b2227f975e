"""anneal.device: a device as torch.device (`.type`, `.index`, `device("cuda", 1)`), and also
a str, so everything that takes a device string takes it unchanged."""


class device(str):
    def __new__(cls, type_or_spec, index=None):
        if isinstance(type_or_spec, device) and index is None:
            return type_or_spec
        if isinstance(type_or_spec, int) and not isinstance(type_or_spec, bool):
            type_or_spec, index = "cuda", type_or_spec
        if not isinstance(type_or_spec, str):
            raise TypeError(f"device() expects a string or an int, got {type(type_or_spec).__name__}")
        spec = type_or_spec.strip()
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda", "meta", "mps"):
            raise RuntimeError(f"Expected one of cpu, cuda, meta, mps device type at start of device string: {spec}")
        if idx:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {spec}")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{spec}'")
            index = int(idx)
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self = str.__new__(cls, kind if index is None else f"{kind}:{index}")
        self._type, self._index = kind, index
        return self

    @property
    def type(self):
        return self._type

    @property
    def index(self):
        return self._index

    def __repr__(self):
        return f"device(type='{self._type}')" if self._index is None else \
            f"device(type='{self._type}', index={self._index})"

    def __eq__(self, other):
        if isinstance(other, str):
            return str.__eq__(self, other) or (self._type == "cpu" and other.startswith("cpu"))
        return NotImplemented

    __hash__ = str.__hash__

    def __reduce__(self):
        return (device, (str(self),))


def as_device_string(d):
    """A device argument (None, str, int, anneal.device) as the string the core takes."""
    if d is None:
        return "cpu"
    return str(device(d))
