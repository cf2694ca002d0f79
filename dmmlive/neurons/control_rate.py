"""Control-rate oscillators: number neurons, one value a tick (SuperCollider's `.kr`).

An audio oscillator cannot drive a number input (a shader's uniform, a knob-like
parameter): `kaleid(pl, sides=5 + 2*lfo)` with `lfo = sine(...)` is a kind mismatch.
These give the same shapes as numbers: each tick outputs the wave at the time of the
tick's first sample, then advances its phase by freq * block / rate. Phase in float64,
kept across edits; `amp` scales, `offset` adds (so `5 + 2*lfo` may be
`sine_kr(freq=0.2, amp=2, offset=5)` as well).
"""
from __future__ import annotations

import numpy as np

from ..core.errors import BadArgument
from ..core.registry import neuron_type, ranged
from .oscillators import noise_state, white

KR_FREQ = ranged(1.0, -100000, 100000, "Hz")  # a control-rate oscillator's frequency


def _advance(state, rate, freq):
    p = state.phase_acc
    out = p - np.floor(p)
    state.phase_acc = out + freq * (state.block / rate)
    return out


@neuron_type("sine_kr", kind="number", inputs={"freq": KR_FREQ, "amp": 1.0, "offset": 0.0}, batched=True,
             state={"phase_acc": 0.0})
def sine_kr(state, rate, freq, amp, offset):
    """Control-rate sine (a number a tick): offset + amp * sin(2π phase), freq in Hz; starts at 0.

    Example: `k = kaleid(glow, sides=5 + 2*sine_kr(freq=0.2))`
    """
    return offset + amp * np.sin(2.0 * np.pi * _advance(state, rate, freq))


@neuron_type("saw_kr", kind="number", inputs={"freq": KR_FREQ, "amp": 1.0, "offset": 0.0}, batched=True,
             state={"phase_acc": 0.0})
def saw_kr(state, rate, freq, amp, offset):
    """Control-rate rising ramp from -1 to 1 (a number a tick), freq in Hz; amp, offset.

    Example: `sweep = lowpass(x, cutoff=1200 + 800*saw_kr(freq=0.25))`
    """
    return offset + amp * (2.0 * _advance(state, rate, freq) - 1.0)


@neuron_type("tri_kr", kind="number", inputs={"freq": KR_FREQ, "amp": 1.0, "offset": 0.0}, batched=True,
             state={"phase_acc": 0.0})
def tri_kr(state, rate, freq, amp, offset):
    """Control-rate triangle between -1 and 1 (starts at 0, rising), freq in Hz; amp, offset.

    Example: `pan = 0.5 + 0.5*tri_kr(freq=0.1)`
    """
    p = _advance(state, rate, freq)
    return offset + amp * (1.0 - np.abs(4.0 * ((p + 0.25) % 1.0) - 2.0))


@neuron_type("square_kr", kind="number", inputs={"freq": KR_FREQ, "amp": 1.0, "offset": 0.0, "width": ranged(0.5, 0, 1)},
             batched=True, state={"phase_acc": 0.0})
def square_kr(state, rate, freq, amp, offset, width):
    """Control-rate pulse: 1 for the first `width` of each cycle, then -1 (a number a tick); amp, offset.

    Example: `gate = 0.5 + 0.5*square_kr(freq=2)`
    """
    return offset + amp * np.where(_advance(state, rate, freq) < width, 1.0, -1.0)


def _check_seed(args):
    s = args["seed"]
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
        raise BadArgument(f"noise_kr: seed must be an integer, not {s!r}")


@neuron_type("noise_kr", kind="number", inputs={"amp": 1.0, "offset": 0.0}, batched=True,
             state=noise_state, args={"seed": 0}, check=_check_seed)
def noise_kr(state, rate, amp, offset):
    """Control-rate white noise: a new value in [-1, 1) each tick, times amp plus offset.

    Deterministic like `noise` (machine seed, `seed`, the neuron's name).

    Example: `wobble = plasma(speed=0.5 + 0.2*noise_kr())`
    """
    x = np.empty((state.n, 1), np.float32)
    white(np.ones((state.n, 1), np.float32), state.rng, x)
    return offset + amp * x[:, 0].astype(np.float64)
