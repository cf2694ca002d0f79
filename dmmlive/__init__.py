"""dmmlive: live coding of sound and image with dataflow matrix machines."""
from .core import (TYPES, BadArgument, DmmError, DuplicateName, KindMismatch, Machine,
                   MalformedDelta, UnknownNeuron, UnknownPort, UnknownType, neuron_type, vv)
from . import neurons  # noqa: F401  (fills the type table)
from .gfx import load_shader_types as _load_shader_types
from .patch.live import PatchSession, load
from .render import render

_load_shader_types()  # every shaders/NAME.frag is the type NAME (compiled when a GPU first needs it)

__version__ = "0.1.0"
__all__ = ["load", "render", "PatchSession", "Machine", "neuron_type", "vv", "TYPES", "DmmError", "UnknownType", "UnknownNeuron",
           "UnknownPort", "KindMismatch", "DuplicateName", "MalformedDelta", "BadArgument"]
