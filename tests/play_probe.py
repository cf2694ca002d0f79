"""Functions that tests/test_play_osc.py runs inside the engine process with `engine.call`.

`engine.call` pickles a function by reference, so these live in an importable module (the
spawned engine process imports `tests.play_probe`). Each takes the machine first; what it
returns is pickled back. They get the engine's Host (`dmmlive.app.build`): `host.machine`,
`host.controller`.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from dmmlive import vv


def pid(host) -> int:
    import os
    return os.getpid()


def counters(host) -> dict:
    """The machine's tick and the Controller's counters and clock."""
    m = host.machine
    c = host.controller
    return {"t": m.t, "executed": c.executed, "failed": c.failed, "waiting": c.waiting,
            "clock": c.clock, "rate": m.rate, "block": m.block, "lead": c.lead,
            "schedule": m.schedule}


def matrix(host) -> dict:
    m = host.machine
    return m.matrix


def neurons(host) -> dict:
    m = host.machine
    return m.neurons


def weight(host, dst: str, dport: str, src: str, sport: str) -> float:
    return _weight(host.machine, dst, dport, src, sport)


def _weight(m, dst: str, dport: str, src: str, sport: str) -> float:
    x = vv.path(m._W, dst, dport, src, sport)
    return float(x) if vv.is_number(x) else 0.0


def _reading(v) -> float:
    if isinstance(v, np.ndarray):
        return float(np.mean(v, dtype=np.float64)) if v.size else 0.0
    if isinstance(v, dict):
        return vv.scalar(v)
    return float(v)


def read(host, name: str, port: str, output: bool = True) -> float:
    """A port's current value (audio: the block's mean)."""
    m = host.machine
    return _reading(m.output(name, port) if output else m.input(name, port))


def sound(host) -> tuple:
    """(the tick, the largest magnitude of the last block `out` played, the tone's first sample)."""
    m = host.machine
    return m.t, float(np.abs(m.sound()).max()), float(m.output("tone", "out")[0])


def settled(host) -> bool:
    """No edit queued or in flight, no glide running: W and the outputs are at rest."""
    m = host.machine
    return not (m._queue or m._inflight or m._fades)


# ---- a per-tick recorder -----------------------------------------------------------------
def _probe(m, spec) -> float:
    kind = spec[0]
    if kind == "w":
        return _weight(m, *spec[1:])
    name, port, how = spec[1:]
    v = m.output(name, port) if kind == "out" else m.input(name, port)
    if how == "peak" and isinstance(v, np.ndarray):
        return float(np.abs(v).max(initial=0.0))
    return _reading(v)


def install_recorder(host, specs, maxlen: int = 30000) -> None:
    """Record, at the start of every tick, (t, wall time, controller clock, [values]).

    `specs`: ("in" | "out", name, port, "mean" | "peak") for a port's value (audio: the
    block's mean or its largest |sample|), ("w", dst, dport, src, sport) for a weight of W.
    The hook runs after the app's own (which runs the timed commands due and sets the
    clock), so a record made with m.t == k holds what tick k computed and the clock
    mapping for tick k + 1. Replaces a recorder installed before.
    """
    m = host.machine
    uninstall_recorder(host)
    log: deque = deque(maxlen=maxlen)
    ctl = host.controller
    specs = [tuple(s) for s in specs]

    def hook(m):
        vals = []
        for spec in specs:
            try:
                vals.append(_probe(m, spec))
            except Exception:  # noqa: BLE001  (a port not compiled yet reads as nothing)
                vals.append(float("nan"))
        log.append((m.t, time.time(), ctl.clock, vals))

    hook.dmm_probe = True
    m.probe_log = log
    m.before_tick.append(hook)


def uninstall_recorder(host) -> None:
    m = host.machine
    m.before_tick[:] = [h for h in m.before_tick if not getattr(h, "dmm_probe", False)]
    m.probe_log = deque()


def records(host, since_tick: int = -1) -> list:
    """The records made since tick `since_tick` (exclusive), oldest first."""
    m = host.machine
    return [r for r in getattr(m, "probe_log", ()) if r[0] > since_tick]
