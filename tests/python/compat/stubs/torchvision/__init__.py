"""A stand-in for torchvision, which Debian 12 does not package: the compatibility suite
imports programs that import it at the top but runs only their torch code, giving them its
own data. Nothing here is used."""
from . import datasets, transforms  # noqa: F401
