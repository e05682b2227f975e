"""anneal.autograd.Function: an op whose forward and backward are written in Python.

As torch.autograd.Function: subclasses define static `forward(ctx, *args)` and
`backward(ctx, *grad_outputs)` (or PyTorch 2's `forward(*args)` + `setup_context(ctx,
inputs, output)`), and are called through `Fn.apply(*args)`. The forward runs without
recording; its tensor outputs then get one graph node whose backward calls the class's
`backward` (with the GIL, from whatever thread runs the backward pass). What the context
offers: save_for_backward / saved_tensors (an in-place change of a saved tensor between
forward and backward is an error, as in PyTorch), needs_input_grad, mark_dirty (an
in-place forward on an input), mark_non_differentiable, set_materialize_grads, and any
attribute the forward sets.

Saved tensors that are outputs of the forward are kept without their history (a tensor
saved with its own graph node would own that node, which owns the context: a cycle no
collector sees); inputs are kept as they are, so double backward through them works.
"""
from anneal._C import Tensor
from anneal._C import autograd as _ag
from anneal._C import is_grad_enabled


class FunctionCtx:
    """What forward leaves for backward (`ctx`)."""

    def __init__(self):
        self._saved = ()
        self._dirty = ()
        self._non_differentiable = ()
        self.materialize_grads = True
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors or None, got {type(t).__name__}")
        self._saved = tensors

    def save_for_forward(self, *tensors):
        self.save_for_backward(*tensors)

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved tensors "
                               "after they have already been freed). Specify retain_graph=True if you need to "
                               "backward through the graph a second time.")
        out = []
        for i, entry in enumerate(self._saved):
            if entry is None:
                out.append(None)
                continue
            t, version = entry
            if t._version != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: saved tensor {i} of {type(self).__name__} is at version {t._version}; expected "
                    f"version {version} instead.")
            out.append(t)
        return tuple(out)

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        # ctx's type carries the function's name into error messages (MyFnBackward)
        cls._backward_cls = type(name + "Backward", (FunctionCtx,), {"_forward_cls": cls})


def _has_own_setup_context(cls):
    return getattr(cls, "setup_context", Function.setup_context) is not Function.setup_context


class Function(metaclass=_FunctionMeta):
    """Base class of Python-defined differentiable ops; see the module's docstring."""

    def __init__(self, *args, **kwargs):
        import warnings
        warnings.warn(f"{type(self).__name__} should not be instantiated: call {type(self).__name__}.apply(...)",
                      DeprecationWarning, stacklevel=2)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Legacy autograd function with non-static forward method is deprecated. Please use new-"
                           "style autograd function with static forward method.")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        from anneal import no_grad

        ctx = cls._backward_cls()
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        inputs = [args[i] for i in positions]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            if _has_own_setup_context(cls):
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(output, tuple)
        outs = list((output,) if single else output)
        recording = is_grad_enabled() and any(t.requires_grad for t in inputs)
        dirty = {id(t) for t in ctx._dirty}
        non_diff = {id(t) for t in ctx._non_differentiable}
        input_ids = {id(t) for t in inputs}
        for t in ctx._dirty:
            if id(t) not in input_ids:
                raise RuntimeError(f"{cls.__name__}: mark_dirty was given a tensor that is not an input")
            if recording and t.is_leaf and t.requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        diff_slots = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                continue
            # an output that is an input (returned as it is) becomes a new tensor on the
            # same memory, so the input's own history stays; an input changed in place
            # (mark_dirty) takes the new history itself
            if id(o) in input_ids and id(o) not in dirty:
                outs[i] = o = o.detach()
            if id(o) not in non_diff and o.is_floating_point():
                diff_slots.append(i)
        # saved tensors: inputs as they are, anything else (outputs) without history
        saved = []
        for t in ctx._saved:
            if t is None:
                saved.append(None)
            else:
                t = t if id(t) in input_ids and id(t) not in dirty else t.detach()
                saved.append((t, t._version))
        ctx._saved = tuple(saved)

        if recording and diff_slots:
            _ag._record_function(cls.__name__ + "Backward", inputs, [outs[i] for i in diff_slots],
                                 _backward_of(cls, ctx, outs, args, diff_slots))
        return outs[0] if single else tuple(outs)


def _backward_of(cls, ctx, outs, args, diff_slots):
    """The node's callback. It keeps only shapes of the outputs and inputs: holding the
    tensors would make the node own its own outputs (a cycle no collector sees)."""
    out_meta = [(tuple(o.shape), o.dtype, o.device) if isinstance(o, Tensor) else None for o in outs]
    in_shapes = [tuple(a.shape) if isinstance(a, Tensor) else None for a in args]

    def backward(grads):
        from anneal import zeros
        full = [None] * len(out_meta)
        for slot, g in zip(diff_slots, grads):
            full[slot] = g
        if ctx.materialize_grads:
            for i, meta in enumerate(out_meta):
                if full[i] is None and meta is not None:
                    full[i] = zeros(meta[0], dtype=meta[1], device=meta[2])
        result = cls.backward(ctx, *full)
        if not isinstance(result, tuple):
            result = (result,)
        while len(result) > len(in_shapes) and result[-1] is None:
            result = result[:-1]
        if len(result) != len(in_shapes):
            raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect number of gradients "
                               f"(expected {len(in_shapes)}, got {len(result)})")
        out = []
        for i, g in enumerate(result):
            want = in_shapes[i]
            if want is None:
                if g is not None:
                    raise RuntimeError(f"function {cls.__name__}Backward returned a gradient different than None at "
                                       f"position {i + 1}, but the corresponding forward input was not a Variable")
                continue
            if g is not None:
                if not isinstance(g, Tensor):
                    raise TypeError(f"function {cls.__name__}Backward returned a {type(g).__name__} as gradient "
                                    f"{i + 1}; expected a Tensor or None")
                if tuple(g.shape) != want and not _broadcasts_to(tuple(g.shape), want):
                    raise RuntimeError(f"Function {cls.__name__}Backward returned an invalid gradient at index {i} - "
                                       f"got {list(g.shape)} but expected shape compatible with {list(want)}")
            out.append(g)
        return out

    return backward


def _broadcasts_to(src, dst):
    """Whether a gradient of shape src sums down to dst (anneal reduces it, as PyTorch)."""
    if len(src) < len(dst):
        return False
    for s, d in zip(src[len(src) - len(dst):], dst):
        if s != d and d != 1:
            return False
    return True


def once_differentiable(fn):
    """PyTorch's decorator for a backward that cannot itself be differentiated: its
    gradients are computed without recording."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        from anneal import no_grad
        with no_grad():
            return fn(ctx, *args)
    return wrapper
