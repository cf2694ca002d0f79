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
def interleave(left, right, x):
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
    bad, peak = interleave(left, right, x)    # non-finite samples zeroed, counted; the peak
    finish(x, bad, peak, state)
    return {}


def finish(x, bad, peak, state: dict) -> None:
    """The rest of `out` once `x` holds its block (`interleave`: `bad` non-finite samples
    zeroed, `peak` the largest magnitude): the count of them, the limiter, the clip, the
    hush; the block becomes `state["sound"]`. (The compiled tick interleaves in its table,
    neurons/tickvm.py, and calls this.)"""
    if bad:
        state["nan"] = state.get("nan", 0) + int(bad)
    if state["limiter"]:
        target = min(1.0, CEILING / peak) if peak > 0 else 1.0
        g0 = state["gain"]
        if target < g0:
            g1 = target  # attack at once: the ramp's overshoot is caught by the clip below
        elif target == g0:
            g1 = g0  # (the usual block: what the release below gives, without its exp)
        else:
            g1 = g0 + (target - g0) * (1.0 - math.exp(-len(x) / (state["rate"] * RELEASE)))
        if g0 != 1.0 or g1 != 1.0:
            x *= np.linspace(g0, g1, len(x), dtype=np.float32)[:, None]
        state["gain"] = g1
    if peak > 1.0 or state["gain"] != 1.0:  # limiter or not, the speakers get [-1, 1]
        np.clip(x, -1.0, 1.0, out=x)
    if state.get("hush_to", 1.0) != 1.0 or state.get("hush", 1.0) != 1.0:
        _hush_block(x, state)
    state["sound"] = x


# ---- hush (OSC /dmm/hush): the sound to silence and back, the network running on ----------------
HUSH_MIN = 0.005  # s: the shortest hush ramp (with fade(0) too: a jump would click)


def _hush_block(x: np.ndarray, state: dict) -> None:
    """x (B, 2) times the hush gain. The gain is smoothstep(p) = 3p² - 2p³ of a position p
    that moves linearly toward its target (`hush_to`: 0 silent, 1 sound) by `hush_step` a
    sample, then stays there: its slope is continuous at both ends (a linear ramp's corners
    would put energy above 12 kHz, as core/glides.py says of glides); at 0 the block is
    exactly silent."""
    p0, to = state.get("hush", 1.0), state["hush_to"]
    if p0 == to:
        if to == 0.0:
            x.fill(0.0)
        return
    k = np.arange(1, len(x) + 1, dtype=np.float64) * state["hush_step"]
    p = np.maximum(p0 - k, to) if to < p0 else np.minimum(p0 + k, to)
    g = p * p * (3.0 - 2.0 * p)
    x *= g.astype(np.float32)[:, None]
    state["hush"] = float(p[-1])
    if state["hush"] == 0.0:
        x[p == 0.0] = 0.0  # (no -0.0: silence is zeros)


def hush(machine, on: bool, seconds: float) -> None:
    """Fade `out` to silence (`on`) or back to sound over `seconds` (at least HUSH_MIN), from
    wherever its hush gain is now. Only the sink's output gain moves: every neuron, W and the
    limiter run on as before, so un-hushing resumes the running set. Takes effect from the
    next tick; deterministic (a function of the ticks at which it is called)."""
    st = machine.state_of("out")
    st["hush_to"] = 0.0 if on else 1.0
    st.setdefault("hush", 1.0)
    st["hush_step"] = 1.0 / (max(float(seconds), HUSH_MIN) * machine.rate)


def hushed(machine) -> bool:
    """Whether `out` is hushed (fading out or silent)."""
    d = machine.declaration("out")
    return d is not None and machine.state_of("out").get("hush_to", 1.0) == 0.0


def unhush(machine, seconds: float) -> bool:
    """Bring the sound back over `seconds` where `out` is hushed (a save does); True if it was."""
    if not hushed(machine):
        return False
    hush(machine, False, seconds)
    return True
