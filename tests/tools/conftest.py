import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from anneal_fixtures import Anneal, anneal, cli, pg_server  # noqa: E402,F401  (fixtures)
