import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session")
def worker():
    path = os.environ.get("ANNEAL_DIST_WORKER")
    if not path or not os.path.exists(path):
        pytest.fail("ANNEAL_DIST_WORKER must name the built dist_worker (ctest sets it)")
    return path
