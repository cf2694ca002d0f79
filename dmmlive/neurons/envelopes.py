"""Envelopes, clock and sequencer: audio-rate control signals that follow gates and triggers."""
from __future__ import annotations

import math

import numba
import numpy as np

from ..core.errors import BadArgument
from ..core.registry import neuron_type, ranged
from .oscillators import output_rows

IDLE, ATTACK, DECAY, SUSTAIN, RELEASE = 0.0, 1.0, 2.0, 3.0, 4.0
# A ramp within half a step of its target has reached it: a segment of T seconds takes
# round(T*rate) samples even when T*rate, read from a float32 input, is 479.99998.


@numba.njit(cache=True, error_model="numpy")
def _adsr(gate, attack, decay, sustain, release, level, stage, top, rate, out):
    n, B = gate.shape
    for j in range(n):
        lv = level[j]
        sg = stage[j]
        tp = top[j]
        for i in range(B):
            if gate[j, i] > 0.0:
                if sg == IDLE or sg == RELEASE:
                    sg = ATTACK  # from wherever the level is: no jump
            elif sg == ATTACK or sg == DECAY or sg == SUSTAIN:
                sg = RELEASE
                tp = lv
            out[j, i] = lv
            s = np.float64(sustain[j, i])
            s = 0.0 if s < 0.0 else (1.0 if s > 1.0 else s)
            if sg == ATTACK:
                step = 1.0 / max(np.float64(attack[j, i]) * rate, 1.0)
                lv += step
                if lv >= 1.0 - 0.5 * step:
                    lv = 1.0
                    sg = DECAY
            elif sg == DECAY:
                step = (1.0 - s) / max(np.float64(decay[j, i]) * rate, 1.0)
                lv -= step
                if lv <= s + 0.5 * step:
                    lv = s
                    sg = SUSTAIN
            elif sg == SUSTAIN:
                lv = s
            elif sg == RELEASE:
                step = tp / max(np.float64(release[j, i]) * rate, 1.0)
                lv -= step
                if lv <= 0.5 * step:
                    lv = 0.0
                    sg = IDLE
        level[j] = lv
        stage[j] = sg
        top[j] = tp


@neuron_type("adsr", kind="audio",
             inputs={"gate": 0.0, "attack": ranged(0.01, 0, 60, "s"), "decay": ranged(0.1, 0, 60, "s"),
                     "sustain": ranged(0.7, 0, 1), "release": ranged(0.3, 0, 60, "s")},
             batched=True, state={"level": 0.0, "stage": IDLE, "top": 0.0})
def adsr(state, rate, gate, attack, decay, sustain, release):
    """ADSR envelope 0..1 while gate > 0: attack, decay, release in seconds, sustain a level 0..1.

    Linear segments, sampled: round(attack*rate) samples after the gate opens the output
    is 1, round(decay*rate) later it is `sustain`, and round(release*rate) samples after
    the gate closes it is 0 (from wherever it was). A gate that opens again starts the attack
    from the current level, so nothing jumps. Times are read every sample.

    Example: `amp = adsr(gate=knob("/1/push1"), attack=0.005, release=0.8)`
    """
    out = output_rows(state, "out", gate.shape)
    _adsr(gate, attack, decay, sustain, release, state.level, state.stage, state.top, float(rate), out)
    return out


@numba.njit(cache=True, error_model="numpy")
def _ar(trig, attack, release, level, stage, prev, rate, out):
    n, B = trig.shape
    for j in range(n):
        lv = level[j]
        sg = stage[j]
        pv = prev[j]
        for i in range(B):
            t = np.float64(trig[j, i])
            if t > 0.0 and pv <= 0.0:
                sg = ATTACK  # from the current level: a retrigger does not jump
            pv = t
            out[j, i] = lv
            if sg == ATTACK:
                step = 1.0 / max(np.float64(attack[j, i]) * rate, 1.0)
                lv += step
                if lv >= 1.0 - 0.5 * step:
                    lv = 1.0
                    sg = RELEASE
            elif sg == RELEASE:
                step = 1.0 / max(np.float64(release[j, i]) * rate, 1.0)
                lv -= step
                if lv <= 0.5 * step:
                    lv = 0.0
                    sg = IDLE
        level[j] = lv
        stage[j] = sg
        prev[j] = pv


@neuron_type("ar", kind="audio", inputs={"trig": 0.0, "attack": ranged(0.01, 0, 60, "s"), "release": ranged(0.3, 0, 60, "s")},
             batched=True, state={"level": 0.0, "stage": IDLE, "prev": 0.0})
def ar(state, rate, trig, attack, release):
    """Attack-release envelope 0..1 started when trig rises through 0: attack, release in seconds.

    Linear: 1 at round(attack*rate) samples after the trigger, 0 again round(release*rate)
    samples later. A new trigger restarts the attack from the current level.

    Example: `hit = ar(clock(bpm=120, div=4), attack=0.001, release=0.15)`
    """
    out = output_rows(state, "out", trig.shape)
    _ar(trig, attack, release, state.level, state.stage, state.prev, float(rate), out)
    return out


@numba.njit(cache=True, error_model="numpy")
def _clock(bpm, div, acc, period, out):
    n, B = bpm.shape
    for j in range(n):
        a = acc[j]
        for i in range(B):
            if a >= period:
                out[j, i] = 1.0
                a -= period
                if a >= period:  # faster than one pulse a sample: one a sample
                    a = a % period
            else:
                out[j, i] = 0.0
            step = np.float64(bpm[j, i]) * np.float64(div[j, i])
            if step > 0.0:
                a += step
        acc[j] = a


def _clock_init(names, args, ctx):
    # the first pulse is on the first sample
    return {"acc": np.full(len(names), 60.0 * ctx.rate)}


@neuron_type("clock", kind="audio", inputs={"bpm": ranged(120.0, 0, 1000, "bpm"), "div": ranged(1.0, 0, 1024)}, batched=True, state=_clock_init)
def clock(state, rate, bpm, div):
    """Clock: a one-sample pulse of 1.0 `div` times per beat at `bpm` beats per minute, from the first sample.

    Sample-exact and drift-free: pulse k falls on sample ceil(k * 60*rate / (bpm*div))
    (the count runs in whole units of bpm*div per sample, so fractional periods
    accumulate exactly). bpm and div are read every sample; bpm*div <= 0 holds it.

    Example: `step = seq(clock(bpm=137, div=4), values=[220, 330, 275, 440])`
    """
    out = output_rows(state, "out", bpm.shape)
    _clock(bpm, div, state.acc, 60.0 * rate, out)
    return out


def _seq_check(args):
    v = args["values"]
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
    if not ok:
        raise BadArgument(f"seq: values must be a non-empty list of numbers, got {v!r}")


@numba.njit(cache=True, error_model="numpy")
def _seq(trig, values, index, prev, out):
    n, B = trig.shape
    m = values.shape[0]
    for j in range(n):
        k = np.int64(index[j])
        pv = prev[j]
        for i in range(B):
            t = np.float64(trig[j, i])
            if t > 0.0 and pv <= 0.0:
                k = k + 1 if k + 1 < m else 0
            pv = t
            out[j, i] = values[k if k >= 0 else 0]
        index[j] = k
        prev[j] = pv


@neuron_type("seq", kind="audio", inputs={"trig": 0.0}, batched=True, args={"values": [0.0]},
             state={"index": -1.0, "prev": 0.0}, check=_seq_check)
def seq(state, rate, trig):
    """Step sequencer: holds one of `values` (a list of numbers) and steps to the next on each rising trig.

    The k-th rising edge of trig through 0 (k = 0, 1, ...) selects values[k mod len]; before
    the first edge the output is values[0]. So `seq(clock(...), values=...)` plays
    values[0] on the first beat.

    Example: `freq = seq(clock(bpm=120, div=2), values=[110, 165, 220, 147])`
    """
    out = output_rows(state, "out", trig.shape)
    _seq(trig, np.asarray(state.args["values"], np.float64), state.index, state.prev, out)
    return out
