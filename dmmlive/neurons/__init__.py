"""The library of neuron types; importing it fills the type table."""
from . import research  # noqa: F401
