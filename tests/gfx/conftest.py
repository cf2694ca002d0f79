"""Fixtures the GPU tests share: a small EGL context and a type table of a test's own."""
import pytest

from dmmlive.core.registry import STANDARD
from dmmlive.gfx import Gpu

N = 32  # render size: llvmpipe is quick at 32x32


@pytest.fixture(scope="module")
def gpu():
    try:
        g = Gpu(size=(N, N))
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no EGL context: {e}")
    yield g
    g.close()


@pytest.fixture
def table():
    """A table of neuron types of the test's own (the standard ones to start): the shader
    types a test loads go there, and the standard table never sees them."""
    return STANDARD.copy()
