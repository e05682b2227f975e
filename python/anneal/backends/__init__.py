"""anneal.backends: the switches PyTorch programs set (torch.backends.cudnn.benchmark, ...).
anneal has no cuDNN autotuner or MPS backend; the flags are kept so such programs run, and
`allow_tf32` reaches the CUDA backend's TF32 switch."""
import types

from anneal import _C


class _Flags(types.SimpleNamespace):
    pass


class _CudaMatmul:
    @property
    def allow_tf32(self):
        return getattr(_C.cuda, "_allow_tf32", False)

    @allow_tf32.setter
    def allow_tf32(self, value):
        if hasattr(_C.cuda, "set_allow_tf32"):
            _C.cuda.set_allow_tf32(bool(value))
        _C.cuda._allow_tf32 = bool(value)


cudnn = _Flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
               is_available=lambda: False, version=lambda: None)
cuda = _Flags(matmul=_CudaMatmul(), is_built=lambda: hasattr(_C.cuda, "is_available"))
mps = _Flags(is_available=lambda: False, is_built=lambda: False)
mkldnn = _Flags(enabled=False, is_available=lambda: False)
openmp = _Flags(is_available=lambda: True)
