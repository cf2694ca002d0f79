"""The pure core: V-values, the type table, the machine and its compiled plan (stdlib + numpy)."""
from . import vv
from .errors import (BadArgument, DmmError, DuplicateName, KindMismatch, MalformedDelta,
                     UnknownNeuron, UnknownPort, UnknownType)
from .machine import Machine
from .registry import TYPES, neuron_type

__all__ = ["vv", "Machine", "neuron_type", "TYPES", "DmmError", "UnknownType", "UnknownNeuron",
           "UnknownPort", "KindMismatch", "DuplicateName", "MalformedDelta", "BadArgument"]
