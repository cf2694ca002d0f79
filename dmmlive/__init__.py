"""dmmlive: live coding of sound and image with dataflow matrix machines."""
from .core import (TYPES, BadArgument, DmmError, DuplicateName, KindMismatch, Machine,
                   MalformedDelta, UnknownNeuron, UnknownPort, UnknownType, neuron_type, vv)
from . import neurons  # noqa: F401  (fills the type table)

__version__ = "0.1.0"
__all__ = ["Machine", "neuron_type", "vv", "TYPES", "DmmError", "UnknownType", "UnknownNeuron",
           "UnknownPort", "KindMismatch", "DuplicateName", "MalformedDelta", "BadArgument"]
