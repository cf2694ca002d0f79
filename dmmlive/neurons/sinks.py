"""The sinks the outside world reads: `out` (played and recorded)."""
from __future__ import annotations

import math

import numba
import numpy as np

from ..core.registry import neuron_type
from .oscillators import JIT

CEILING = 0.99
RELEASE = 0.1  # seconds


@numba.njit(**JIT)
def _interleave(left, right, x):
    """x[:, 0], x[:, 1] = left, right (float32), non-finite samples as 0; returns (how many
    were non-finite, the largest magnitude): one pass where stack, isfinite and abs().max
    took four."""
    bad = 0
    peak = 0.0
    for i in range(len(left)):
        a, b = np.float32(left[i]), np.float32(right[i])
        if not np.isfinite(a):
            a = np.float32(0.0)
            bad += 1
        if not np.isfinite(b):
            b = np.float32(0.0)
            bad += 1
        x[i, 0] = a
        x[i, 1] = b
        peak = max(peak, abs(a), abs(b))
    return bad, peak


@neuron_type("out", inputs={"left": "audio", "right": "audio"}, outputs={}, pinned=True,
             state={"gain": 1.0, "limiter": True, "rate": 48000})
def out(inputs, state):
    """The loudspeakers: NaN guard, safety limiter (unless turned off), clip: what leaves stays in [-1, 1]."""
    left, right = inputs["left"], inputs["right"]
    x = np.empty((len(left), 2), np.float32)  # (B, 2): a new block each tick (readers keep them)
    bad, peak = _interleave(left, right, x)   # non-finite samples zeroed, counted; the peak
    if bad:
        state["nan"] = state.get("nan", 0) + int(bad)
    if state["limiter"]:
        target = min(1.0, CEILING / peak) if peak > 0 else 1.0
        g0 = state["gain"]
        if target < g0:
            g1 = target  # attack at once: the ramp's overshoot is caught by the clip below
        else:
            g1 = g0 + (target - g0) * (1.0 - math.exp(-len(x) / (state["rate"] * RELEASE)))
        if g0 != 1.0 or g1 != 1.0:
            x *= np.linspace(g0, g1, len(x), dtype=np.float32)[:, None]
        state["gain"] = g1
    if peak > 1.0 or state["gain"] != 1.0:  # limiter or not, the speakers get [-1, 1]
        np.clip(x, -1.0, 1.0, out=x)
    state["sound"] = x
    return {}
