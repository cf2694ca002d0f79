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
def adsr_kernel(gate, attack, decay, sustain, release, level, stage, top, rate, out):
    """ADSR over a group, sample by sample: level, stage and top (the level a release starts from) kept in the state rows."""
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
    adsr_kernel(gate, attack, decay, sustain, release, state.level, state.stage, state.top, float(rate), out)
    return out


@numba.njit(cache=True, error_model="numpy")
def ar_kernel(trig, attack, release, level, stage, prev, rate, out):
    """Attack-release over a group, sample by sample: level, stage and the last trig kept in the state rows."""
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
    ar_kernel(trig, attack, release, state.level, state.stage, state.prev, float(rate), out)
    return out


@numba.njit(cache=True, error_model="numpy")
def _phase(g, s):
    """The beat grid's phase at sample s (core/grid.py: units of 1/(60·rate) beat)."""
    if s >= g[0]:
        return g[1] + (s - g[0]) * g[2]
    return g[4] + (s - g[3]) * g[5]


@numba.njit(cache=True, error_model="numpy")
def clock_kernel(bpm, div, acc, period, g, out):
    """Clock pulses over a group: on the beat grid `g` where bpm <= 0, else counted in acc at bpm*div a sample."""
    n, B = bpm.shape
    s0 = g[7]
    u = g[6]
    for j in range(n):
        a = acc[j]
        for i in range(B):
            b = np.float64(bpm[j, i])
            d = np.float64(div[j, i])
            if b <= 0.0 or a != a:  # on the grid: following it, or waiting for its next division
                hit = False
                if d > 0.0:
                    s = s0 + i
                    hit = math.floor(_phase(g, s) * d / u) > math.floor(_phase(g, s - 1.0) * d / u)
                out[j, i] = 1.0 if hit else 0.0
                if b > 0.0 and hit:  # an override tempo: free from this pulse on
                    a = b * d
                elif b <= 0.0:
                    a = np.nan  # an override that comes back waits for the grid again
                continue
            if a >= period:
                out[j, i] = 1.0
                a -= period
                if a >= period:  # faster than one pulse a sample: one a sample
                    a = a % period
            else:
                out[j, i] = 0.0
            step = b * d
            if step > 0.0:
                a += step
        acc[j] = a


def _clock_init(names, args, ctx):
    # NaN: waiting for the beat grid's next division (the first pulse is on the grid)
    return {"acc": np.full(len(names), np.nan)}


@neuron_type("clock", kind="audio", inputs={"bpm": ranged(0.0, 0, 1000, "bpm"), "div": ranged(1.0, 0, 1024)}, batched=True, state=_clock_init)
def clock(state, rate, bpm, div):
    """Clock: a one-sample pulse of 1.0 `div` times per beat of the grid's tempo, or of `bpm` beats per minute.

    With bpm 0 (the default) it follows the grid: pulse k of a clock falls on the first
    sample at or after beat k/div of the grid, for every clock alike, so clocks added at
    any time run in phase and a tempo change (a save, /dmm/tempo, Link) moves them all.
    `bpm` > 0 overrides the tempo: the clock starts on the grid's next division and runs at
    its own tempo from there, sample-exact and drift-free: pulse k falls k * 60*rate /
    (bpm*div) samples after the first (rounded up; the count runs in whole units of
    bpm*div per sample, so fractional periods accumulate exactly). bpm and div are read
    every sample; div 0 holds it.

    Example: `step = seq(clock(div=4), values=[220, 330, 275, 440])`
    """
    out = output_rows(state, "out", bpm.shape)
    clock_kernel(bpm, div, state.acc, 60.0 * rate, state.grid, out)
    return out


def _seq_check(args):
    v = args["values"]
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
    if not ok:
        raise BadArgument(f"seq: values must be a non-empty list of numbers, got {v!r}")


@numba.njit(cache=True, error_model="numpy")
def seq_kernel(trig, values, index, prev, out):
    """Step sequencer over a group: index steps through `values` at each rising edge of trig."""
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


_VALUES: dict = {}  # id(values list) -> (the list, its float64 array): made once, not every tick


def seq_values(v) -> np.ndarray:
    got = _VALUES.get(id(v))
    if got is None or got[0] is not v:
        if len(_VALUES) > 4096:
            _VALUES.clear()
        got = _VALUES[id(v)] = (v, np.asarray(v, np.float64))
    return got[1]


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
    seq_kernel(trig, seq_values(state.args["values"]), state.index, state.prev, out)
    return out
