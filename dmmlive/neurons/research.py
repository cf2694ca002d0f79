"""The standard vvalue neuron types of the authors' DMM engines."""
from __future__ import annotations

from ..core import vv
from ..core.registry import neuron_type


@neuron_type("identity", variadic="vvalue", passthrough=True)
def identity(inputs, state):
    """Each input goes to the output of the same name (with a weight-1 self-loop: a register)."""
    return dict(inputs)


@neuron_type("accum", inputs={"accum": "vvalue", "delta": "vvalue"}, outputs={"single": "vvalue"})
def accum(inputs, state):
    """single = accum + delta: with a weight-1 link single -> accum, an accumulator."""
    return {"single": vv.add(inputs["accum"], inputs["delta"])}


@neuron_type("max_norm", inputs={"dict": "vvalue"}, outputs={"norm": "vvalue"})
def max_norm(inputs, state):
    """norm = {":number": the largest absolute leaf of dict}."""
    return {"norm": vv.max_norm(inputs["dict"])}


@neuron_type("dot", inputs={"dict-1": "vvalue", "dict-2": "vvalue"}, outputs={"dot": "vvalue"})
def dot(inputs, state):
    """dot = {":number": the sum of products of leaves at matching paths}."""
    return {"dot": vv.dot(inputs["dict-1"], inputs["dict-2"])}


@neuron_type("compare", inputs={"dict-1": "vvalue", "dict-2": "vvalue"},
             outputs={"true": "vvalue", "false": "vvalue"})
def compare(inputs, state):
    """Scalars x, y of dict-1, dict-2: true = relu(x - y), false = relu(y - x)."""
    x, y = vv.scalar(inputs["dict-1"]), vv.scalar(inputs["dict-2"])
    return {"true": vv.number(max(x - y, 0.0)), "false": vv.number(max(y - x, 0.0))}


@neuron_type("const", outputs={"out": "vvalue"}, args={"value": {":number": 1.0}})
def const(inputs, state):
    """out = the construction argument `value`, every tick."""
    v = state["args"]["value"]
    return {"out": vv.number(v) if vv.is_number(v) else v}


@neuron_type("timer", inputs={"timer": "vvalue"}, outputs={"timer": "vvalue"})
def timer(inputs, state):
    """timer = timer + 1: with a weight-1 self-loop it counts ticks."""
    return {"timer": vv.add(inputs["timer"], {vv.NUMBER: 1.0})}


@neuron_type("pulse", outputs={"out": "vvalue"}, args={"value": {}, "period": 1.0, "phase": 0.0},
             state=lambda args: {"t": 0})
def pulse(inputs, state):
    """Emits `value` once every `period` seconds, `phase` seconds in, {} otherwise.

    Linked to `self.delta` it is a timed self-edit: the network rewires itself, e.g.
    `self.delta = pulse(value={"out": {"left": {"a": {"out": -1}, "b": {"out": 1}}}}, period=2)`.
    """
    a = state["args"]
    ticks = state["ticks_per_second"] if "ticks_per_second" in state else None
    state["t"] += 1
    if ticks is None:
        return {"out": {}}
    n = max(1, round(a["period"] * ticks))
    k = round(a["phase"] * ticks) % n
    return {"out": a["value"] if state["t"] % n == k else {}}
