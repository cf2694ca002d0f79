"""The beat grid: one beat clock for the whole machine, that clocks follow, quantised edits
land on, and Ableton Link or a MIDI clock can steer.

The grid's position is kept as a phase P(s) in units of 1/(60·rate) beat: P grows by the
tempo (in bpm) each sample, so a beat is 60·rate units and

    P(s) = P0 + (s - S0) · tempo        (s: the machine's sample count, from 0)

from the last change of tempo (sample S0, phase P0). With a tempo of few binary digits
(120, 137.5, 128.25) every P is an exact float, so "sample s is on beat k of division d"
(floor(P(s)·d / unit) > floor(P(s-1)·d / unit)) is decided exactly and the same way by
every clock and every quantised edit: two clocks added 1.3 s apart pulse on the same
samples, and a save quantised to the beat lands on the sample a clock pulses on.
A change of tempo starts a new segment at the next block, with the phase continuous;
the previous segment is kept so the sample before the change is still read by its own.
"""
from __future__ import annotations

import math

import numpy as np

MAX_TEMPO = 1000.0  # bpm: the highest tempo anywhere (a patch's tempo(), /dmm/tempo, Machine.tempo)

# the fields of the array the clock kernels read (`Grid.arr`)
S0, P0, TEMPO, S0P, P0P, TEMPOP, UNIT, BLOCK = range(8)  # BLOCK: the running block's first sample


class Grid:
    """The machine's beat clock: `tempo` (bpm), `meter` (beats per bar), the phase."""

    def __init__(self, rate: int, tempo: float = 120.0, meter: int = 4):
        self.rate = rate
        self.meter = int(meter)
        self.arr = np.array([0.0, 0.0, float(tempo), 0.0, 0.0, float(tempo), 60.0 * rate, 0.0])

    @property
    def tempo(self) -> float:
        return float(self.arr[TEMPO])

    def set_tempo(self, bpm: float, at: int) -> None:
        """From sample `at` on (the first sample of the next block), `bpm` beats a minute,
        the phase continuous."""
        a = self.arr
        bpm = float(bpm)
        if bpm == a[TEMPO]:
            return
        p = self.phase(at)
        if at != a[S0]:  # (a second change at the same sample keeps the segment before it)
            a[S0P], a[P0P], a[TEMPOP] = a[S0], a[P0], a[TEMPO]
        a[S0], a[P0], a[TEMPO] = float(at), p, bpm

    def set_beat(self, beat: float, at: int) -> None:
        """Make sample `at` fall on beat `beat` (Link's session phase, an external clock)."""
        a = self.arr
        if at != a[S0]:  # (as set_tempo)
            a[S0P], a[P0P], a[TEMPOP] = a[S0], a[P0], a[TEMPO]
        a[S0], a[P0] = float(at), float(beat) * a[UNIT]

    def phase(self, s: int) -> float:
        a = self.arr
        if s >= a[S0]:
            return a[P0] + (s - a[S0]) * a[TEMPO]
        return a[P0P] + (s - a[S0P]) * a[TEMPOP]

    def beat(self, s: int) -> float:
        """The beat position of sample `s` (0 at the grid's start)."""
        return self.phase(s) / self.arr[UNIT]

    def on(self, s: int, beats: float) -> bool:
        """Whether sample `s` is the first of a multiple of `beats` (the test the clocks use)."""
        d, u = 1.0 / beats, self.arr[UNIT]
        return math.floor(self.phase(s) * d / u) > math.floor(self.phase(s - 1) * d / u)

    def next_multiple(self, s: int, beats: float) -> int:
        """The first sample >= s that starts a multiple of `beats` beats (quant)."""
        a = self.arr
        d, u = 1.0 / beats, a[UNIT]
        k = math.floor(self.phase(s - 1) * d / u) + 1  # the next multiple's number
        tempo = a[TEMPO] if s >= a[S0] else a[TEMPOP]
        if tempo <= 0:
            return s
        if s >= a[S0]:
            guess = int(a[S0] + math.ceil((k * u / d - a[P0]) / tempo))
        else:
            guess = int(a[S0P] + math.ceil((k * u / d - a[P0P]) / tempo))
        x = max(s, guess - 2)
        while not self.on(x, beats):  # the exact test decides (a step or two at most)
            x += 1
        return x
