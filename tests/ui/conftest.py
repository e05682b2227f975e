import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from anneal_fixtures import Anneal, anneal, cli  # noqa: E402,F401  (fixtures)
