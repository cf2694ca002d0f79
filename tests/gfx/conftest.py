"""Fixtures the GPU tests share: a small EGL context and a type table restored after."""
import pytest

from dmmlive import TYPES
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
def types_restored():
    """Shader types a test registers leave the type table with it."""
    before = dict(TYPES)
    yield
    TYPES.clear()
    TYPES.update(before)
