"""The library of neuron types; importing it fills the type table."""
from . import research, sinks, inputs, bridge, grow  # noqa: F401
from . import oscillators, shaping, filters, envelopes, sampler, analysis, control, control_rate  # noqa: F401
from . import midi  # noqa: F401
from . import tickvm  # noqa: F401  (the compiled tick: after the types it runs)
