"""anneal.nn.utils: gradient clipping, parameters as one vector, and the RNN padding
helpers, as torch.nn.utils."""
import math

from anneal import _C
from anneal._C import Tensor

from . import rnn  # noqa: F401


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales the gradients in place so their joint norm is at most max_norm; returns the
    norm before clipping (a 0-d tensor)."""
    params = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not params:
        return _C.tensor(0.0)
    if norm_type == math.inf:
        norms = [g.grad.detach().abs().max() for g in params]
        total = norms[0] if len(norms) == 1 else _C.stack(norms).max()
    else:
        norms = [_C.norm(p.grad.detach(), norm_type) for p in params]
        total = _C.norm(_C.stack(norms), norm_type)
    if error_if_nonfinite and (bool(_C.isnan(total)) or math.isinf(total.item())):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    coef = max_norm / (total.item() + 1e-6)
    if coef < 1.0:
        for p in params:
            p.grad.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    for p in _grads(parameters):
        p.grad.copy_(_C.clamp(p.grad, min=-float(clip_value), max=float(clip_value)))


def parameters_to_vector(parameters):
    return _C.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    start = 0
    prev = _C.is_grad_enabled()
    _C._set_grad_enabled(False)
    try:
        for p in parameters:
            n = p.numel()
            p.copy_(vec[start:start + n].reshape(*p.shape))
            start += n
    finally:
        _C._set_grad_enabled(prev)
