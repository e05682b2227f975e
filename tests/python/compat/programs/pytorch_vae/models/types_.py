# From https://github.com/AntixK/PyTorch-VAE (models/types_.py, commit 3cba112b94c5e59a732b8efa47e3f9cb233be759).
# Apache License 2.0, Copyright Anand Krishnamoorthy Subramanian; see ../../LICENSES.md. Unmodified below this block.
from typing import List, Callable, Union, Any, TypeVar, Tuple
# from torch import tensor as Tensor

Tensor = TypeVar('torch.tensor')
