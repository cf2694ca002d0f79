"""The sinks the outside world reads: `out` (played and recorded)."""
from __future__ import annotations

import math

import numpy as np

from ..core.registry import neuron_type

CEILING = 0.99
RELEASE = 0.1  # seconds


@neuron_type("out", inputs={"left": "audio", "right": "audio"}, outputs={}, pinned=True,
             state={"gain": 1.0, "limiter": True, "rate": 48000})
def out(inputs, state):
    """The loudspeakers: NaN guard, safety limiter (unless turned off), clip: what leaves stays in [-1, 1]."""
    x = np.stack([inputs["left"], inputs["right"]], axis=1).astype(np.float32)  # (B, 2)
    bad = ~np.isfinite(x)
    if bad.any():
        x[bad] = 0.0
        state["nan"] = state.get("nan", 0) + int(bad.sum())
    if state["limiter"]:
        peak = float(np.abs(x).max(initial=0.0))
        target = min(1.0, CEILING / peak) if peak > 0 else 1.0
        g0 = state["gain"]
        if target < g0:
            g1 = target  # attack at once: the ramp's overshoot is caught by the clip below
        else:
            g1 = g0 + (target - g0) * (1.0 - math.exp(-len(x) / (state["rate"] * RELEASE)))
        if g0 != 1.0 or g1 != 1.0:
            x *= np.linspace(g0, g1, len(x), dtype=np.float32)[:, None]
        state["gain"] = g1
    np.clip(x, -1.0, 1.0, out=x)  # limiter or not, the speakers get [-1, 1]
    state["sound"] = x
    return {}
