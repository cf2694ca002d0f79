"""Control sources driven from outside the network: `knob` (an OSC address)."""
from __future__ import annotations

import math

import numpy as np

from ..core.errors import BadArgument, UnknownNeuron, did_you_mean
from ..core.registry import neuron_type


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _knob_check(args: dict) -> None:
    a = args["address"]
    if not isinstance(a, str) or not a.startswith("/"):
        raise BadArgument(f"knob address must be a string starting with '/', got {a!r}")
    if any(c in a for c in " #*,?[]{}"):
        raise BadArgument(f"knob address {a!r} may not hold spaces or any of # * , ? [ ] {{ }}")
    if not _is_number(args["default"]):
        raise BadArgument(f"knob default must be a finite number, got {args['default']!r}")
    lag = args["lag"]
    if not _is_number(lag) or lag < 0:
        raise BadArgument(f"knob lag must be a number of seconds >= 0, got {lag!r}")


def _knob_init(names, args, ctx) -> dict:
    # a knob set before it ran, or re-created by an edit, starts where it was last set
    last = getattr(ctx, "knobs", None) or {}
    v = np.array([last.get(n, float(args["default"])) for n in names], np.float64)
    return {"target": v, "value": v.copy()}


def smoothing(lag: float, rate: int, block: int) -> float:
    """The one-pole coefficient per tick: the value moves this fraction of the way to the target."""
    if lag <= 0:
        return 1.0
    return 1.0 - math.exp(-block / (rate * lag))


def toward_target(state, rate) -> np.ndarray:
    """A set-from-outside number's tick (knob, midicc, midibend): its value one pole of
    `lag` seconds nearer its target."""
    a = smoothing(float(state.args["lag"]), rate, state.block)
    state.value += a * (state.target - state.value)
    return state.value.copy()


@neuron_type("knob", kind="number", inputs={}, outputs={"out": "number"},
             args={"address": "", "default": 0.5, "lag": 0.02}, batched=True,
             state=_knob_init, check=_knob_check)
def knob(state, rate):
    """A number set from outside (OSC at `address`), smoothed over `lag` seconds; starts at `default`.

    Each tick the value moves toward the target by one pole: after k ticks of B samples
    it is target + (start - target) * exp(-k*B / (rate*lag)).

    Example: `vol = knob("/1/fader1", default=0.5, lag=0.02)`
    """
    return toward_target(state, rate)


def set_knob(machine, name: str, value: float) -> bool:
    """Set the target of knob `name` in `machine` (the OSC layer calls this).

    The value is also remembered in the machine, so a knob that is not running yet (no
    weight reads it, or the edit declaring it is not compiled) or that an edit re-creates
    starts from it. Returns True when a running knob got it now. Does not compile the
    machine, so it may be called between ticks from another thread.
    """
    decl = machine.declaration(name)
    if decl is None or decl.type.name != "knob":
        knobs = [n for n, t in machine.neurons.items() if t == "knob"]
        if decl is None:
            raise UnknownNeuron(f"unknown knob {name!r}{did_you_mean(name, knobs)}")
        raise UnknownNeuron(f"{name!r} is a {decl.type.name}, not a knob")
    if not _is_number(value):
        raise BadArgument(f"knob {name!r}: value must be a finite number, got {value!r}")
    value = float(value)
    ctx = machine.context
    if getattr(ctx, "knobs", None) is None:
        ctx.knobs = {}
    ctx.knobs[name] = value
    row = machine.group_row(name)
    if row is None:
        return False
    arrays, i = row
    arrays["target"][i] = value
    return True
