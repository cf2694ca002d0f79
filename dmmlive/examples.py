"""The authors' research examples as small machines, and a trace printer (`make demo`).

    python -m dmmlive.examples wave|clicks|accum [TICKS]
"""
from __future__ import annotations

import sys
from collections import deque

from . import vv
from .core.machine import Machine
from .core.registry import STANDARD

# the authors' helper types (a monitor, cons, a reader) live in a table of their own
TYPES = STANDARD.copy()


def wave(n: int = 3) -> Machine:
    """The wave in the matrix (arXiv 1706.00648 App. B.2): n identity neurons `update-k`,
    each a register (weight-1 self-loop) holding a ΔW that passes the weight-1 link into
    `self.delta` from itself to the next; the link goes round with period n."""
    m = Machine(schedule="synchronous", types=TYPES)
    for k in range(1, n + 1):
        name, nxt = f"update-{k}", f"update-{k % n + 1}"
        m.add(name, "identity")
        m.connect(f"{name}.x", f"{name}.x", 1.0)
        m.set_output(name, "x", {"self": {"delta": {name: {"x": -1.0}, nxt: {"x": 1.0}}}})
    m.connect("self.delta", "update-1.x", 1.0)
    return m


def wave_row(m: Machine) -> list:
    """Which update neurons the self.delta row of W names, with their weights."""
    row = vv.path(m.matrix, "self", "delta")
    return sorted((k, v["x"]) for k, v in row.items() if k.startswith("update-"))


@TYPES.neuron_type("monitor", inputs={}, outputs={"out": "vvalue"}, state=lambda args: {"queue": deque()})
def monitor(inputs, state):
    """Emits {x, y, flag: 1} on the tick a click is queued on it (state["queue"]), {} otherwise."""
    q = state["queue"]
    if q:
        x, y = q.popleft()
        return {"out": {"x": float(x), "y": float(y), "flag": 1.0}}
    return {"out": {}}


@TYPES.neuron_type("cons", inputs={"signal": "vvalue", "old": "vvalue"}, outputs={"list": "vvalue"})
def cons(inputs, state):
    """When `signal` has a flag, list = {this: signal, rest: old}; otherwise list = old."""
    s = inputs["signal"]
    if vv.path(s, "flag"):
        return {"list": {"this": s, "rest": inputs["old"]}}
    return {"list": inputs["old"]}


def clicks() -> Machine:
    """The list of clicks (arXiv 1712.07447 §6.3): a monitor feeds a cons neuron whose
    weight-1 self-loop keeps the list; the list starts as {end-list: 1}."""
    m = Machine(schedule="synchronous", types=TYPES)
    m.add("monitor", "monitor")
    m.add("cons", "cons")
    m.connect("cons.signal", "monitor.out", 1.0)
    m.connect("cons.old", "cons.list", 1.0)
    m.set_output("cons", "list", {"end-list": 1.0})
    return m


def click(m: Machine, x: float, y: float) -> None:
    """Queue a click on the monitor: it is emitted at the next up movement."""
    m.state_of("monitor")["queue"].append((x, y))


@TYPES.neuron_type("reader", inputs={}, outputs={"signal": "vvalue"}, state=lambda args: {"queue": deque()})
def reader(inputs, state):
    """Emits {step: 1} each tick, or instead the V-value written into it (oct_28_2016)."""
    q = state["queue"]
    return {"signal": q.popleft() if q else {"step": 1.0}}


def accumulator() -> Machine:
    """The asynchronous accumulator (jsa-aerial/DMM oct_28_2016): an accum with a weight-1
    self-loop sums what a reader emits: {step: 1} per tick, or a V-value written to it."""
    m = Machine(schedule="synchronous", types=TYPES)
    m.add("reader", "reader")
    m.add("acc", "accum")
    m.connect("acc.accum", "acc.single", 1.0)
    m.connect("acc.delta", "reader.signal", 1.0)
    return m


def write(m: Machine, value: dict) -> None:
    m.state_of("reader")["queue"].append(value)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    which = argv[0] if argv else "wave"
    ticks = int(argv[1]) if len(argv) > 1 else 9
    if which == "wave":
        m = wave()
        print("wave in the matrix: the self.delta row of W after each up movement")
        for _ in range(ticks):
            m.tick()
            print(f"  t={m.t:2d}  " + "  ".join(f"{k}: {w:g}" for k, w in wave_row(m)))
    elif which == "clicks":
        m = clicks()
        print("list of clicks: clicks queued at ticks 2 and 5")
        for t in range(1, ticks + 1):
            if t in (2, 5):
                click(m, 10 * t, 20 * t)
            m.tick()
            print(f"  t={m.t:2d}  {m.output('cons', 'list')}")
    elif which == "accum":
        m = accumulator()
        print("asynchronous accumulator: {a: 1} written at tick 4")
        for t in range(1, ticks + 1):
            if t == 4:
                write(m, {"a": 1.0})
            m.tick()
            print(f"  t={m.t:2d}  {m.output('acc', 'single')}")
    else:
        print(f"unknown example {which!r}: wave, clicks or accum", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
