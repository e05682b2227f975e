import os
import sys

# Import the package from the build tree (ctest sets ANNEAL_PYTHONPATH).
path = os.environ.get("ANNEAL_PYTHONPATH")
if path and path not in sys.path:
    sys.path.insert(0, path)
