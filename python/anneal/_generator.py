"""anneal.Generator: a random stream of its own, for the places PyTorch programs pass
`generator=` (samplers, random_split, randperm). Seeded explicitly, it repeats regardless of
the global stream; unseeded, it is seeded from the global stream (anneal.manual_seed)."""
import numpy as np

from anneal import _C


class Generator:
    def __init__(self, device="cpu"):
        self.device = device
        self._seed = int(_C.randint(0, 2 ** 62, (1,)).item())
        self._rng = np.random.Generator(np.random.Philox(self._seed))

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.Philox(self._seed))
        return self

    def seed(self):
        return self.manual_seed(int(np.random.SeedSequence().entropy % 2 ** 63)).initial_seed()

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state
        return self

    def _rand(self, n):
        return _C.from_numpy(self._rng.random(n))
