"""Between V-values and numbers: `vread` (a leaf of a V-value as a number and as sound),
`vwrite` (a number as a V-value, e.g. a ΔW for `self.delta`), and `lif`, a leaky
integrate-and-fire neuron for sparse events (onsets that rewire the network)."""
from __future__ import annotations

import numpy as np

from ..core import vv
from ..core.errors import BadArgument
from ..core.registry import neuron_type, ranged


def keys_of(path, who: str) -> tuple:
    """The keys of a path 'a/freq/one/out', or BadArgument."""
    if not isinstance(path, str) or not path or any(not k for k in path.split("/")):
        raise BadArgument(f"{who}: path must be keys separated by '/', like 'out/left/a/out', got {path!r}")
    return tuple(path.split("/"))


def _check_read(args):
    keys_of(args["path"], "vread")


def _check_write(args):
    keys_of(args["path"], "vwrite")


@neuron_type("vread", inputs={"in": "vvalue"}, outputs={"out": "number", "sig": "audio"},
             args={"path": ":number"}, state={"last": 0.0, "rate": 48000}, check=_check_read)
def vread(inputs, state):
    """V-value -> number: the leaf of `in` at `path` (keys separated by '/'), 0 where absent.

    `out` is the number, once a tick; `sig` the same as sound, ramping over the block from
    last tick's value to this one's (no step when the leaf jumps). A path that ends at a
    number V-value reads its ":number" leaf.

    Example: `w = vread(self.matrix, path="out/left/a/out")` (W heard: a weight as a number)
    """
    keys = state.get("keys")
    if keys is None:
        keys = state["keys"] = keys_of(state["args"]["path"], "vread")
        n = max(1, round(state["rate"] / state["ticks_per_second"]))
        state["ramp"] = (np.arange(1, n + 1) / n).astype(np.float64)
    x = vv.path(inputs["in"], *keys)
    if isinstance(x, dict):
        x = x.get(vv.NUMBER, 0.0)
    x = float(x) if vv.is_number(x) else 0.0
    a, state["last"] = state["last"], x
    r = state["ramp"]
    sig = np.full(len(r), x, np.float32) if a == x else (a + (x - a) * r).astype(np.float32)
    return {"out": x, "sig": sig}


@neuron_type("vwrite", inputs={"x": "number"}, outputs={"out": "vvalue"}, args={"path": ":number"},
             check=_check_write)
def vwrite(inputs, state):
    """Number -> V-value: `x` at `path` (keys separated by '/'), every tick ({} while x is 0).

    Into `self.delta` it is a ΔW the network writes: `path` names a weight,
    dst/input/src/output, and x is added to it each tick.

    Example: `self.delta = vwrite(0.001*level, path="a/freq/one/out")` (a's pitch drifts with level)
    """
    keys = state.get("keys")
    if keys is None:
        keys = state["keys"] = keys_of(state["args"]["path"], "vwrite")
    x = inputs["x"]
    if not x or not np.isfinite(x):
        return {"out": {}}
    v = float(x)
    for k in reversed(keys):
        v = {k: v}
    return {"out": v}


def _check_lif(args):
    r = args["refractory"]
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not r >= 0 or r != int(r):
        raise BadArgument(f"lif: refractory must be a whole number of ticks >= 0, got {r!r}")


@neuron_type("lif", kind="number", inputs={"in": 0.0, "leak": ranged(0.9, 0, 1), "threshold": 1.0},
             batched=True, args={"refractory": 0}, state={"v": 0.0, "rest": 0.0}, check=_check_lif)
def lif(state, rate, **ins):
    """Leaky integrate-and-fire: v <- leak*v + in; at v >= threshold a spike (1 for one tick), v reset to 0.

    Sparse events from a stream: onsets (`peak`, `rms` of a sound), coincidences (two
    inputs of 0.6 and 0.5 spike together only within a tick of each other at leak 0.9),
    and into `vwrite` into `self.delta`, edits on events. Runs once a tick (every=k slows it).
    `refractory=k` (ticks, default 0): after a spike v stays 0 and the input is not taken
    for k ticks, so an event that lasts up to k+1 ticks spikes once.

    Example: `hit = lif(4*peak(drums), leak=0.5, threshold=1, refractory=20)`
    """
    v = ins["leak"] * state.v + ins["in"]
    resting = state.rest > 0
    if resting.any():
        v = np.where(resting, 0.0, v)
    spike = (v >= ins["threshold"]) & ~resting
    state.v = np.where(spike, 0.0, v)
    k = float(state.args["refractory"])
    if k or resting.any():
        state.rest = np.where(spike, k, np.maximum(state.rest - 1.0, 0.0))
    return spike.astype(np.float64)
