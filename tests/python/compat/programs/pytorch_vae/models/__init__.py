# The package's own __init__.py (https://github.com/AntixK/PyTorch-VAE, models/__init__.py) imports
# every model of the repository; this one imports only what vanilla_vae.py needs. Apache License 2.0,
# Copyright Anand Krishnamoorthy Subramanian; see ../../LICENSES.md.
from .base import *
from .vanilla_vae import *
