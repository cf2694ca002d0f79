"""Analysers: audio in, numbers out (one value per tick), for visuals and control."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.registry import neuron_type

N_BANDS = 8
LOW, HIGH = 40.0, 16000.0  # Hz: the outer edges of the bands
WINDOW = 1024              # samples (at 48 kHz) of the shortest analysis window
CLEAR_BINS = 2.0           # FFT bins between a band's edges and its neighbours' centres
DFT_BINS = 32              # a window that feeds at most this many bins is a matrix product, not an FFT


@neuron_type("rms", inputs={"in": "audio"}, outputs={"out": "number"}, batched=True)
def rms(state, rate, **inputs):
    """RMS level of each block of `in` (a number per tick; a sine of amplitude A reads A/sqrt(2)).

    Example: `glow = plasma(speed=0.3 + 4*rms(out.left))`
    """
    x = inputs["in"].astype(np.float64)
    return np.sqrt(np.mean(x * x, axis=1))


@neuron_type("peak", inputs={"in": "audio"}, outputs={"out": "number"}, batched=True)
def peak(state, rate, **inputs):
    """Peak level of each block of `in`: max |x| over the block (a number per tick).

    Example: `flash = peak(kick)`
    """
    return np.max(np.abs(inputs["in"]), axis=1).astype(np.float64)


def band_edges() -> np.ndarray:
    """The N_BANDS + 1 log-spaced band edges in Hz, LOW to HIGH (about an octave each)."""
    return LOW * (HIGH / LOW) ** (np.arange(N_BANDS + 1) / N_BANDS)


class Window(NamedTuple):
    """One analysis window: the last `n` samples, Hann-windowed, bins lo..hi-1 of their rfft."""
    n: int
    hann: np.ndarray     # (n,)
    lo: int
    hi: int
    dft: np.ndarray | None  # (n, 2*(hi-lo)): windowed cos | -sin of those bins, or None: use rfft
    weights: np.ndarray  # (hi-lo, N_BANDS): |bin|^2 -> mean square of each band it feeds


_PLANS: dict = {}


def band_plan(rate: int) -> list[Window]:
    """The analysis windows of `bands` at one machine rate.

    Each band is measured on the shortest window (WINDOW samples at 48 kHz, scaled with
    the rate, doubled as needed, at most 8 times) whose bins are fine enough that a
    neighbouring band's centre lies CLEAR_BINS bins outside the band's edges: past the
    main lobe of the Hann window, so a sine there leaks only sidelobes (< -39 dB) into
    it. At 48 kHz: b1 and b2 on 4096 samples (85 ms), b3 on 2048, b4-b8 on 1024 (21 ms),
    so the high bands follow the beat. Band 1 also takes what lies below LOW and band 8
    what lies above HIGH (DC aside), so nothing is lost at the edges. The weights turn
    |rfft|^2 of the windowed signal into mean square: a sine of amplitude A inside
    band k sums to A^2/2 there and reads A/sqrt(2).
    """
    plan = _PLANS.get(rate)
    if plan is not None:
        return plan
    edges = band_edges()
    centres = np.sqrt(edges[:-1] * edges[1:])
    base = 1 << max(4, int(round(np.log2(WINDOW * rate / 48000))))
    lengths = []
    for k in range(N_BANDS):
        clear = min(edges[k] - centres[k - 1] if k > 0 else np.inf,
                    centres[k + 1] - edges[k + 1] if k < N_BANDS - 1 else np.inf)
        n = base
        while clear < CLEAR_BINS * rate / n and n < 8 * base:
            n *= 2
        lengths.append(n)
    plan = []
    for n in sorted(set(lengths)):
        w = np.hanning(n + 1)[:-1]  # periodic Hann
        f = np.fft.rfftfreq(n, 1 / rate)
        weights = np.zeros((len(f), N_BANDS))
        scale = np.full(len(f), 2.0 / (n * np.sum(w * w)))
        scale[0] = 0.0  # DC is not a band
        if n % 2 == 0:
            scale[-1] /= 2.0  # Nyquist appears once in the two-sided spectrum
        lo = np.concatenate(([-np.inf], edges[1:-1]))
        hi = np.concatenate((edges[1:-1], [np.inf]))
        for k in range(N_BANDS):
            if lengths[k] == n:
                weights[:, k] = np.where((f >= lo[k]) & (f < hi[k]), scale, 0.0)
        used = np.flatnonzero(weights.any(axis=1))
        a, b = int(used[0]), int(used[-1]) + 1
        dft = None
        if b - a <= DFT_BINS:  # the long windows of the low bands need few bins
            phase = 2 * np.pi * np.outer(np.arange(n), np.arange(a, b)) / n
            dft = np.concatenate([w[:, None] * np.cos(phase), -w[:, None] * np.sin(phase)], axis=1)
        plan.append(Window(n, w, a, b, dft, weights[a:b]))
    _PLANS[rate] = plan
    return plan


def _bands_init(names, args, ctx) -> dict:
    longest = max(w.n for w in band_plan(ctx.rate))
    return {"history": np.zeros((len(names), longest))}


@neuron_type("bands", inputs={"in": "audio"}, outputs={f"b{k + 1}": "number" for k in range(N_BANDS)},
             batched=True, state=_bands_init)
def bands(state, rate, **inputs):
    """Levels of 8 log-spaced bands of `in`, 40 Hz-16 kHz, as RMS amplitude (b1 lowest; numbers per tick).

    About an octave each (edges 40, 85, 179, 378, 800, 1692, 3578, 7568, 16000 Hz); a sine
    of amplitude A in band k reads about A/sqrt(2) on bk. Windows (at 48 kHz): 4096 samples
    for b1 and b2, 2048 for b3, 1024 for b4-b8.

    Example: `spec = bands(out.left)` then `zoom(trail, amount=1 + 0.5*spec.b1)`
    """
    x = inputs["in"]
    h = state.history
    b, size = x.shape[1], h.shape[1]
    if b >= size:
        h[:] = x[:, -size:]
    else:
        h[:, :-b] = h[:, b:]  # numpy copes with the overlap
        h[:, -b:] = x
    power = np.zeros((h.shape[0], N_BANDS))
    for w in band_plan(rate):
        last = h[:, -w.n:]
        if w.dft is not None:
            z = last @ w.dft
            p = z[:, :w.hi - w.lo] ** 2 + z[:, w.hi - w.lo:] ** 2
        else:
            z = np.fft.rfft(last * w.hann, axis=1)[:, w.lo:w.hi]
            p = z.real ** 2 + z.imag ** 2
        power += p @ w.weights
    level = np.sqrt(power)
    return {f"b{k + 1}": level[:, k] for k in range(N_BANDS)}
