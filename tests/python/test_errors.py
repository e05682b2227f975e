"""Errors cross as Python exceptions of matching kinds with the C++ message."""
import numpy as np
import pytest

import anneal


def test_shape_errors_are_value_errors():
    with pytest.raises(ValueError, match="cannot be multiplied"):
        anneal.zeros(2, 3) @ anneal.zeros(4, 5)
    with pytest.raises(ValueError):
        anneal.zeros(2, 3) + anneal.zeros(4, 5)


def test_dtype_errors_are_type_errors():
    with pytest.raises(TypeError):
        anneal.from_numpy(np.zeros(3, dtype=np.complex64))
    with pytest.raises(TypeError):
        anneal.zeros(2) + "a"


def test_index_errors():
    with pytest.raises(IndexError):
        anneal.zeros(2, 3)[5]
    with pytest.raises(IndexError):
        anneal.zeros(2)[0, 0]


def test_runtime_errors_and_no_crash():
    x = anneal.randn(3, requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError):
        y.backward()  # the graph was freed
    with pytest.raises(ValueError, match="requires grad"):
        x.numpy()
    with pytest.raises(ValueError):
        anneal.functional.cross_entropy(anneal.randn(4, 3), anneal.tensor([0, 1]))
    with pytest.raises(TypeError):
        anneal.tensor([1.0])[1.5]
